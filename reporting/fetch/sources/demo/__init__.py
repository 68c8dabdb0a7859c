"""The bundled demo dataset: a synthetic, documented imitation of Kaiko's liquidation volumes.

:mod:`.generate` builds ``kaiko_demo.json.gz`` deterministically (:mod:`.generate_overlays` its
funding and open interest); :mod:`.client` serves it over an emulation of Kaiko's HTTP endpoint,
:mod:`.overlay_client` the overlays over emulations of Binance's and OKX's.
"""
