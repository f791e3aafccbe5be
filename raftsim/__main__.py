"""`python -m raftsim` runs the same command line as the `raftsim` console script."""

import sys

from .cli import main

sys.exit(main())
