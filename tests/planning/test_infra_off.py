"""`infra: {NAME: false}` in config.yaml turns a provider off, whatever its own check says: a team server keeps
users' jobs off its own machine, and the contract test runs the API where nothing can be launched."""

from __future__ import annotations

from pathlib import Path

import pytest

from skyhop import sdk
from skyhop.errors import SkyhopError
from skyhop.planning.infra import survey
from skyhop.spec.task import Task

THIS_MACHINE = "local"


def test_a_provider_turned_off_is_not_usable_and_a_task_pinned_to_it_says_why(isolated_home: Path):
    assert survey()[THIS_MACHINE].check.enabled  # this machine is always usable, unless turned off
    config = isolated_home / ".skyhop" / "config.yaml"
    config.parent.mkdir(mode=0o700, exist_ok=True)
    config.write_text(f"infra:\n  {THIS_MACHINE}: false\n")
    found = survey()[THIS_MACHINE]
    assert not found.check.enabled and found.check.reason == f"disabled in config.yaml (infra.{THIS_MACHINE}: false)"
    assert found.has_provider
    with pytest.raises(SkyhopError) as refused:
        sdk.optimize(Task.from_dict({"run": "true", "resources": {"infra": THIS_MACHINE}}))
    assert f"infra.{THIS_MACHINE}: false" in str(refused.value)
