"""``python -m batteryscope.app`` = the ``batteryscope`` command."""
import sys

from .cli import main

sys.exit(main())
