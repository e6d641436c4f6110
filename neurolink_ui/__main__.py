"""`python -m neurolink_ui serve|simulator|generate` (see neurolink_ui/cli/)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
