"""``python -m reporting``: the ``liqrisk`` command."""

from reporting.cli import main

if __name__ == "__main__":  # a worker process (the stream writer) imports this module too
    main()
