"""Kaiko: token-level liquidation volumes (``liquidation.v1``), per interval, exchange and side.

:mod:`.client` asks for pages (API key, region host, paging by continuation token);
:mod:`.format` validates a body and gives its interval rows.
"""
