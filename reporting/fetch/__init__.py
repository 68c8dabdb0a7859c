"""Fetch stage: requests in, stored snapshots and derived rows out.

Takes a source name, assets and a time range (or each watermark); gives
:class:`reporting.records.FetchSummary` records, after every raw response was appended byte for byte
to the audit store as a Merkle leaf together with the rows derived from it.

* :mod:`.registry`     the sources and what each can fetch (config and CLI read it);
* :mod:`.sources`      one package per source: its HTTP client and the format of its bodies;
* :mod:`.ingest`       page -> snapshot -> derived rows, one transaction a page, with corrections;
* :mod:`.backfill`     long ranges in resumable chunks;
* :mod:`.watermarks`   how far each (source, dataset, asset) has been fetched;
* :mod:`.normalise`    times, numbers and symbols into one form;
* :mod:`.derivers`     re-deriving any stored body (what ``liqrisk verify`` hands the audit store);
* :mod:`.corrections`  every version the store holds of an interval, and what changed;
* :mod:`.streams`      the live collectors: websocket frames -> batches -> events, minute sums.

Nothing here imports the later stages (checks, render, notify, schedule, cli).
"""
