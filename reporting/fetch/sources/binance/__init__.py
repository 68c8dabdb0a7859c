"""Binance USD-M futures: funding rate history and open-interest statistics (public, no key).

:mod:`.client` windows the requests the way each endpoint allows; :mod:`.format` validates a body
and gives its funding or open-interest rows.
"""
