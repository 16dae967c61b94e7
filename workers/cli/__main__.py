"""``python -m workers.cli``: the ``segsync`` command."""

from workers.cli.main import main

main()
