"""Data sources: each turns requests into raw responses, and raw bodies into records.

One package per source, each with ``client`` (the HTTP side: URLs, paging, keys, retries) and
``format`` (the documented body format: parse and validate a body into rows, or say why not):
:mod:`.kaiko` (token liquidation volumes), :mod:`.binance` (USD-M funding and open interest),
:mod:`.okx` (funding, open interest, liquidation orders), :mod:`.demo` (the bundled data set behind
emulators of those endpoints). Shared: :mod:`.http` (one fetcher with retries and size caps) and
:mod:`.derived` (rows of the overlay tables).
"""
