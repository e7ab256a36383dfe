"""`python -m diffalign`, the form launchers take: `torchrun --nproc_per_node N -m diffalign align ...`."""

import sys

from .cli.main import main

sys.exit(main())
