"""The seams clouds launch through: the richer LaunchRequest, ownership marks, the
write-ahead launch id, the preempted report, and the optional cloud protocols."""

from __future__ import annotations

import os
import stat

import pytest

from skyhop.catalog.offer import Offer
from skyhop.errors import SkyhopError
from skyhop.execution import launch
from skyhop.execution.lifecycle import observe
from skyhop.execution.progress import Progress
from skyhop.optimizer.plan import Candidate
from skyhop.providers import _owned, base
from skyhop.providers.errors import CapacityError
from skyhop.spec.resources import Resources
from skyhop.spec.task import Task

OFFER = Offer("aws", "m6i.large", None, 0.0, 2.0, 8.0, "us-east-1", "us-east-1a", 0.096, 0.03, None)


def test_a_provider_written_before_the_new_fields_gets_the_same_request():
    """Positional construction as plugins and the built-ins did it still works; the new fields default to "not asked"."""
    request = base.LaunchRequest("c", OFFER, 2, True, cpus=2.0)
    assert (request.image_id, request.disk_size_gb, request.disk_tier, request.ports, dict(request.labels)) == (None, None, None, (), {})
    assert (request.user, request.launch_id, request.owner_id, request.cancelled()) == ("", "", "", False)


def _candidate(**resources) -> Candidate:
    return Candidate(OFFER, Resources(**resources), True, 2, 1.0)


def test_the_request_carries_the_tasks_machine_choices_for_this_offer_and_the_marks(tmp_path):
    task = Task.from_dict({"num_nodes": 2, "resources": {"cpus": 2}, "run": "true"})
    progress = Progress(tmp_path / "log")
    wanted = _candidate(image_id={"us-east-1": "ami-0east", "us-west-2": "ami-0west"}, disk_size=256, disk_tier="high", ports=[8080, "9000-9010"], labels={"team": "ml"})
    request = launch._launch_request(wanted, task, "train", "alice", progress)
    assert request.image_id == "ami-0east"  # the image of the offer's region, from a per-region mapping
    assert (request.disk_size_gb, request.disk_tier, request.ports, dict(request.labels)) == (256, "high", ("8080", "9000-9010"), {"team": "ml"})
    assert (request.cluster_name, request.num_nodes, request.use_spot, request.cpus) == ("train", 2, True, 2.0)
    assert (request.user, request.owner_id) == ("alice", _owned.owner_id())
    assert len(request.launch_id) == 12 and request.launch_id != launch._launch_request(wanted, task, "train", "alice", progress).launch_id
    assert request.cancelled() is False
    progress.cancel_event.set()  # a cancelled request: a provider's long wait sees it
    assert request.cancelled() is True
    plain = launch._launch_request(_candidate(image_id="ami-0same"), task, "train", "alice", progress)
    assert plain.image_id == "ami-0same" and plain.disk_size_gb is None and plain.ports == ()


def test_the_launch_id_is_in_the_write_ahead_record_before_the_provider_is_called(tmp_path):
    """A crash during the cloud call leaves a record naming the tag its resources carry."""
    from skyhop.state.store import StateStore

    seen = {}

    class Cloud:
        name = "aws"

        def launch(self, request):
            seen["record"] = store.get_cluster(request.cluster_name)
            seen["request"] = request
            raise CapacityError("full")

    task = Task.from_dict({"resources": {"cpus": 2}, "run": "true"})
    with StateStore() as store:
        with pytest.raises(CapacityError):
            launch._bring_up(Cloud(), _candidate(), task, launch.LaunchOptions("crashy", "me"), store, Progress(tmp_path / "log"))
        assert store.get_cluster("crashy") is None  # a launch failure leaves no record (failover goes on)
    assert seen["record"].status == "INIT"
    assert seen["record"].resources["launch_id"] == seen["request"].launch_id != ""


def test_the_owner_id_is_made_once_per_home_and_kept_private(isolated_home):
    first = _owned.owner_id()
    path = isolated_home / ".skyhop" / "owner-id"
    assert _owned.owner_id() == first and len(first) == 16 and set(first) <= set("0123456789abcdef")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    path.write_text("not-an-id\n")
    with pytest.raises(SkyhopError, match="owner id"):  # never silently replaced: resources carry the old one
        _owned.owner_id()


def test_launches_starting_together_on_a_new_home_agree_on_one_owner_id(tmp_path, monkeypatch):
    """Repetition: 8 threads at once on each of 30 fresh homes (an O_EXCL create then a write let others read it empty)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    for run in range(30):
        monkeypatch.setenv("SKYHOP_HOME", str(tmp_path / f"home-{run}"))
        together = threading.Barrier(8)

        def read_it(_: int, together: threading.Barrier = together) -> str:
            together.wait()
            try:
                return _owned.owner_id()
            except SkyhopError as error:
                return str(error)

        with ThreadPoolExecutor(8) as pool:
            seen = set(pool.map(read_it, range(8)))
        assert len(seen) == 1 and len(next(iter(seen))) == 16, (run, seen)
        assert sorted(p.name for p in (tmp_path / f"home-{run}").iterdir()) == ["owner-id"]  # no temporary file left


def test_marks_and_names_identify_the_cluster_and_the_installation():
    owner = "0123456789abcdef"
    assert _owned.marks("train", "alice", "a1b2c3", owner) == {
        "skyhop-cluster": "train", "skyhop-user": "alice", "skyhop-launch": "a1b2c3", "skyhop-owner": owner,
    }
    assert _owned.resource_name(owner, "train", "fw") == "skyhop-01234567-train-fw"
    long_a, long_b = "a" * 60 + "-x", "a" * 60 + "-y"
    names = {_owned.resource_name(owner, c, "ports") for c in (long_a, long_b)}
    assert len(names) == 2 and all(len(n) <= 63 and n.endswith("-ports") and n == n.lower() for n in names)


def test_a_reclaimed_node_is_a_lost_node_with_the_clouds_reason():
    class Cloud:
        def query(self, cluster):
            return base.preempted({1: "Server.SpotInstanceTermination", 0: "spot capacity reclaimed"})

    state, reason = observe(Cloud(), None)
    # PARTIAL: the record stays, goes to INIT with this reason, and `down` removes the rest.
    assert state == base.PARTIAL
    assert reason == "node 0: preempted (spot capacity reclaimed); node 1: preempted (Server.SpotInstanceTermination)"


def test_the_cloud_protocols_are_found_by_what_a_provider_implements():
    class Cloud:
        def owned(self):
            return [base.OwnedResource("instance", "i-1", "us-east-1", "train")]

        def remove_owned(self, resources):
            pass

        def availability(self):
            return {("gpu_1x_h100_pcie", "us-east-1"): True}

        def zone_names(self, region):
            return {"use1-az2": "us-east-1a"}

    class Bare:
        pass

    for protocol in (base.OwnedLister, base.LiveAvailability, base.ZoneNamer):
        assert isinstance(Cloud(), protocol) and not isinstance(Bare(), protocol)
    assert base.OwnedResource("instance", "i-1", "us-east-1", "train").created_at is None


def test_the_launch_down_backstop_is_30_s_unless_the_server_is_configured_otherwise(isolated_home):
    """`launch --down`: how long after the job the agent takes the cluster down by itself if its server died."""
    task = Task.from_dict({"run": "true"})
    following = launch.LaunchOptions(cluster_name="c", owner="u", down=True)
    assert launch._autostop_wanted(task, following) == (0.5, True)
    assert launch._autostop_wanted(task, launch.LaunchOptions(cluster_name="c", owner="u", down=True, detach_run=True)) == (0.0, True)
    (isolated_home / ".skyhop").mkdir()
    (isolated_home / ".skyhop" / "config.yaml").write_text("api_server:\n  down_backstop_seconds: 3\n")
    assert launch._autostop_wanted(task, following) == (0.05, True)
