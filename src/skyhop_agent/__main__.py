"""`python -m skyhop_agent ...`: the only way the broker and the agent itself start it."""

from __future__ import annotations

import sys

from skyhop_agent.cli import main

sys.exit(main())
