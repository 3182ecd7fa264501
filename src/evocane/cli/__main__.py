"""`python -m evocane.cli`: the same as the `evocane` command."""

import sys

from evocane.cli import main

sys.exit(main())
