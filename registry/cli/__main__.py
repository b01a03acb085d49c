"""`python -m registry.cli`: the same command as `credit-registry`."""

import sys

from registry.cli import main

sys.exit(main())
