"""`python -m mailbot` runs the command line."""

import sys

from mailbot.cli import main

sys.exit(main())
