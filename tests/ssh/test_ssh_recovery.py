"""A launch on SSH hosts cut short by a crash (no handle stored yet) is found and cleaned up."""

from __future__ import annotations

from skyhop.providers import base
from skyhop.providers.ssh import cluster_key, host_ops, leases
from skyhop.providers.ssh.provider import SSHProvider
from skyhop.providers.ssh.runner import SSHRunner, SSHTarget


def test_an_unfinished_launch_is_found_from_the_leases_and_undone(ssh_hosts, isolated_home):
    head, worker = ssh_hosts[1], ssh_hosts[2]
    (isolated_home / ".skyhop").mkdir(exist_ok=True)
    (isolated_home / ".skyhop" / "config.yaml").write_text(
        f"ssh_node_pools:\n  p:\n    user: root\n    identity_file: {head.identity_file}\n    hosts: [{head.ip}, {worker.ip}]\n"
    )
    targets = [SSHTarget(h.ip, "root", 22, h.identity_file) for h in (head, worker)]
    # What a launch had done when the server died: hosts leased, key comment noted,
    # cluster directories made and the key authorized on the worker.
    assert leases.acquire("crashed", [t.key for t in targets], 2) is not None
    comment = cluster_key.new_comment("crashed")
    leases.note_key("crashed", comment)
    facts = [host_ops.probe(SSHRunner(t), "p", None, "crashed") for t in targets]
    public = cluster_key.create_on_head(SSHRunner(targets[0]), facts[0].base, comment)
    cluster_key.authorize(SSHRunner(targets[1]), public)

    provider = SSHProvider()
    found = provider.find("crashed")
    assert found is not None and [n.ip for n in found.nodes] == [head.ip, worker.ip]
    assert provider.query(found).state == base.TERMINATED  # never finished: nothing to keep
    provider.terminate(found)
    for target, fact in zip(targets, facts):
        left = SSHRunner(target).run(["sh", "-c", 'ls -A "$1" 2>/dev/null; grep -c skyhop-cluster ~/.ssh/authorized_keys; true', "sh", fact.base]).stdout
        assert left.strip() in ("", "0"), left
    assert leases.held_by("crashed") == [] and leases.key_of("crashed") is None
    assert provider.find("crashed") is None
