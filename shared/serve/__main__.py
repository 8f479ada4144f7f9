"""`python -m shared.serve [options]`: the same as `journey serve [options]`."""
import sys

from ..cli import main

sys.exit(main(["serve", *sys.argv[1:]]))
