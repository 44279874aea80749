"""`python -m engagement`."""

import sys

from engagement.cli import main

sys.exit(main())
