"""The live collectors: exchange websocket streams kept as evidence, frame by frame.

Takes the venues' public liquidation streams (Binance ``!forceOrder@arr``, Bybit
``allLiquidation``, OKX ``liquidation-orders``; one module per venue under
:mod:`reporting.fetch.sources`, one reader interface) and gives batches of raw frames in the audit
store, each one snapshot, with the events, rejected frames, minute aggregates and connection
records derived from them (:mod:`audit_store.tables_streams`).

* :mod:`.frames`     the batch body's format and a frame's reading (events or control)
* :mod:`.derive`     a batch's rows, the pure function ``verify`` re-runs
* :mod:`.venues`     the streams a configuration asks for (URLs, subscriptions, keep-alives)
* :mod:`.writer`     storing a batch: snapshot, events (duplicates not counted), aggregates
* :mod:`.collector`  the asyncio connections: reconnects, keep-alives, idle timeouts, rollover
* :mod:`.lease`      one collector per stream across hosts, a dead holder's stream taken over
* :mod:`.runner`     ``liqrisk collect`` and the daemon: OKX contract values, signals, duration
* :mod:`.reading`    what is stored: events, coverage and gaps, per-stream health
* :mod:`.verify`     duplicates counted once and the minute sums, checked by ``liqrisk verify``
* :mod:`.settings`   the ``[streams]`` configuration
* :mod:`.demo`       a loopback server replaying the real recorded Binance sample
"""
