"""The bundled demo dataset: a synthetic, documented imitation of Kaiko's liquidation volumes.

:mod:`reporting.demo.generate` builds ``kaiko_demo.json.gz`` deterministically;
:mod:`reporting.sources.demo` serves it over an emulation of Kaiko's HTTP endpoint.
"""
