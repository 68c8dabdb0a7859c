"""``python -m reporting``: the ``liqrisk`` command."""

from reporting.cli import main

main()
