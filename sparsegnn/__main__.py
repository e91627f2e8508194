"""``python -m sparsegnn`` (and ``torchrun -m sparsegnn``): the command line."""

import sys

from .cli import main

sys.exit(main())
