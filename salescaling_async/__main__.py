"""``python -m salescaling_async``: the ``salescaling`` command line."""

from .cli import main

main()
