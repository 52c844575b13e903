"""One way to make a HiGHS model, for every exact solve in skyhop (pipeline placement, the spot simulator's baseline).

Two process-wide traits of HiGHS make a shared maker worth having:

- The first model of a process prints a banner on the C-level stdout (not
  Python's `sys.stdout`), which would corrupt `--output json`; it is made with
  fd 1 pointed at /dev/null.
- Its thread pool is set up once per process by the first solve. A later model
  asking another `threads` value fails to run ("Not Set"), so no caller sets it:
  the sim's baseline once did, and failed in any process where a pipeline
  placement had solved first.

highspy is imported here, inside the function, so `import skyhop` stays light.
"""

from __future__ import annotations

import os
import sys
from typing import Any

_banner_shown = False


def highs_model(*, time_limit_s: float, mip_rel_gap: float) -> Any:
    """A quiet HiGHS model bounded to `time_limit_s`, stopping within `mip_rel_gap` of the optimum."""
    import highspy

    global _banner_shown
    if _banner_shown:
        model = highspy.Highs()
    else:
        model = _without_stdout(highspy.Highs)
        _banner_shown = True
    model.setOptionValue("output_flag", False)
    model.setOptionValue("mip_rel_gap", mip_rel_gap)
    model.setOptionValue("time_limit", time_limit_s)
    return model


def _without_stdout(make: Any) -> Any:
    import ctypes

    sys.stdout.flush()
    saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        made = make()
        ctypes.CDLL(None).fflush(None)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)
    return made
