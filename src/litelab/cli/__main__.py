"""``python -m litelab.cli``: the same as the ``litelab`` command."""

import sys

from litelab.cli import main

sys.exit(main())
