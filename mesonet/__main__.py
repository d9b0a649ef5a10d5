"""`python -m mesonet ...`: the same as the `mesonet` command."""

import sys

from mesonet.commands import main

sys.exit(main())
