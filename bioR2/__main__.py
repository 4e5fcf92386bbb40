"""``python -m bioR2`` is the ``bior2`` command."""

import sys

from .cli import main

sys.exit(main())
