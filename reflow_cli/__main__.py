"""``python -m reflow_cli spawn -n 2 python main.py``."""

import sys

from reflow_cli import main

sys.exit(main())
