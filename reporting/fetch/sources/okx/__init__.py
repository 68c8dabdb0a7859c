"""OKX v5: funding, open interest, instruments and filled liquidation orders (public, no key).

:mod:`.client` pages each endpoint; :mod:`.format` validates a body and gives its rows (liquidation
orders in contracts, converted to USD with the instrument's contract value when read).
"""
