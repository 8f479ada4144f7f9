"""`python -m shared.serve [options]`: the same as `journey serve [options]`."""
import os
import sys

from ..cli import main

code = main(["serve", *sys.argv[1:]])
# the server has shut down gracefully (requests in flight finished); exit without the interpreter's teardown
# of torch and transformers, which costs more than a second of CPU and does nothing a server needs
sys.stdout.flush()
sys.stderr.flush()
os._exit(code or 0)
