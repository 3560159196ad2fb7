"""``python -m anchor.cli``: the same as the ``anchor`` command."""

import sys

from anchor.cli.main import main

sys.exit(main())
