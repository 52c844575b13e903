"""From machines a cloud reports to cluster nodes (providers/vm.py), on namespace hosts that adopt the addresses.

What every cloud provider relies on: an instance at a private address, holding
skyhop's key, becomes a node whose agent directory exists, whose workers the
head reaches by their private addresses, and which stop/start and terminate
model as an unreachable-then-back machine and a gone one.
"""

from __future__ import annotations

import json

import pytest

from skyhop.errors import SkyhopError
from skyhop.providers import vm
from skyhop.providers.errors import CapacityError, LaunchCancelled
from skyhop.providers.keys import user_key


def machines(farm, count: int) -> list[vm.Machine]:
    out = []
    for rank in range(count):
        ip = farm.allocate()
        farm.adopt(ip, user_key().public)
        out.append(vm.Machine(private_ip=ip, public_ip=None, user="root", facts={"instance_id": f"i-{rank}"}))
    return out


def test_two_machines_become_a_linked_cluster(cloud_farm):
    reported = machines(cloud_farm, 2)
    try:
        connected = vm.connect("testcloud", "vmc", reported, internal_ips=True, wait_s=60)
        head, worker = connected.nodes
        assert [n.ip for n in connected.nodes] == [m.private_ip for m in reported]
        assert head.extra["testcloud"] == {"instance_id": "i-0"} and worker.extra["ssh"]["host"] == reported[1].private_ip
        assert head.exec_prefix is None and worker.exec_prefix is not None and worker.exec_prefix[-1] == f"root@{reported[1].private_ip}"
        assert connected.key_comment and connected.measured.cpus >= 1
        # The head reaches its worker with the cluster key, by the worker's private address.
        hop = vm.runner(head).run([*worker.exec_prefix, "cat", "/proc/sys/kernel/hostname"], timeout=60)
        assert hop.returncode == 0, hop.stderr
        assert vm.runner(worker).run(["test", "-d", worker.base]).returncode == 0
        # The head's self-stop instructions: private on the head, run by the agent's autostop hooks.
        call = {"kind": "http", "requests": [{"method": "POST", "url": "http://10.0.0.1/stop", "headers": {"Authorization": "Bearer s3cret"}}]}
        vm.install_self_stop(head, {"stop": call})
        hooks = vm.self_stop_hooks(head, ("stop",))
        path = f"{head.base}/{vm.SELF_STOP_FILE}"
        assert hooks == {"stop": ["python3", "-m", "skyhop_agent.cloudstop", path, "stop"]}
        listed = vm.runner(head).run(["sh", "-c", 'stat -c %a "$1" && cat "$1"', "sh", path]).stdout.split("\n", 1)
        assert listed[0] == "600" and json.loads(listed[1]) == {"stop": call}
        # Stop and start: the same machine answers again, its files kept.
        vm.runner(head).run(["sh", "-c", 'echo kept > "$1/mark"', "sh", head.base])
        vm.disconnect(connected.nodes)
        cloud_farm.pause(reported[0].private_ip)
        with pytest.raises(SkyhopError):
            vm.runner(head).run(["true"], timeout=15)
        cloud_farm.resume(reported[0].private_ip)
        again = vm.readdress(connected.nodes, reported, internal_ips=True)
        assert vm.runner(again[0]).run(["cat", f"{head.base}/mark"], timeout=60).stdout.strip() == "kept"
    finally:
        for m in reported:
            cloud_farm.release(m.private_ip)
    assert cloud_farm.held() == {}


def test_a_machine_that_never_answers_is_a_capacity_error(cloud_farm):
    silent = vm.Machine(private_ip=cloud_farm.allocate(), user="root")  # reported by the cloud, held by no host
    with pytest.raises(CapacityError, match="did not answer SSH within 3 s"):
        vm.connect("testcloud", "silent", [silent], internal_ips=True, wait_s=3)


def test_a_cancel_ends_the_wait(cloud_farm):
    silent = vm.Machine(private_ip=cloud_farm.allocate(), user="root")
    with pytest.raises(LaunchCancelled):
        vm.connect("testcloud", "cancelled", [silent], internal_ips=True, wait_s=300, cancelled=lambda: True)


def test_public_addresses_are_required_unless_internal_ips():
    with pytest.raises(SkyhopError, match="use_internal_ips"):
        vm.connect("testcloud", "nopublic", [vm.Machine(private_ip="10.0.0.5")], internal_ips=False, wait_s=1)
