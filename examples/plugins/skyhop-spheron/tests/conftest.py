"""Import the plugin from its sources, without installing it.

A bare `src` on sys.path makes `skyhop_spheron` importable but registers no
entry point (that needs installed metadata), so skyhop's own tests, collected
in the same run, never see a `spheron` provider they did not ask for.
"""

import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)
