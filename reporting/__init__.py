"""liqrisk's application: sources, normalisation, checks, rendering, notification, CLI.

Pipeline stages, one module each, handing frozen records (:mod:`reporting.records`) on:
``ingest`` (fetch + snapshot + derive) -> ``metrics`` -> ``checks`` -> ``render`` -> notify;
``pipeline`` orchestrates them, ``cli`` is a thin layer over it all.
"""
