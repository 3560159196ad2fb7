"""``python -m anchor.cli``: the same as the ``anchor`` command."""

from anchor.cli.main import main

main()
