"""What the serve routes hand the serve controller, on both state backends: secret values in memory only (the
row keeps them redacted), a wake for every change it must act on, the lease's cancel flag on `down`, and
nothing for a failed service left alone without `purge`; and what they refuse before any row is written."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
from state.conftest import db_url, store  # noqa: F401  (SQLite and PostgreSQL)

from skyhop.errors import ConflictError, InfeasibleError, NotFoundError
from skyhop.server.auth.principal import Principal, Role
from skyhop.server.services import serve
from skyhop.state.controller_leases import ControllerLeases
from skyhop.state.services import KIND, Services
from skyhop.state.store import StateStore

SERVICE = {"run": "python3 -m http.server 8080", "resources": {"cpus": 0.25}, "service": {"readiness_probe": "/", "replicas": 1}}



ME = Principal(user="me", role=Role.USER)

class Controller:
    """Records what the routes hand the serve controller (the real one launches replicas: not wanted here)."""

    def __init__(self) -> None:
        self.remembered: list[tuple[str, int, dict[str, Any]]] = []
        self.wakes = 0

    def remember(self, name: str, version: int, task: dict[str, Any]) -> None:
        self.remembered.append((name, version, task))

    def wake(self) -> None:
        self.wakes += 1


def test_secrets_reach_the_controller_only_and_each_change_wakes_it(store, isolated_home):  # noqa: F811
    controller = Controller()
    assert serve.up(store, controller, ME, SERVICE, "plain") == {"name": "plain", "endpoint": None, "version": 1}
    assert (controller.remembered, controller.wakes) == ([], 1)  # nothing withheld: the row is the whole task
    secret = dict(SERVICE, secrets={"TOKEN": "s3cret"})
    serve.up(store, controller, ME, secret, "sec")
    assert [(n, v, t["secrets"]) for n, v, t in controller.remembered] == [("sec", 1, {"TOKEN": "s3cret"})]
    assert "s3cret" not in repr(Services(store).get("sec"))
    assert serve.update(store, controller, ME, "sec", secret, "blue_green") == {"name": "sec", "version": 2, "mode": "blue_green"}
    assert [(n, v) for n, v, _ in controller.remembered] == [("sec", 1), ("sec", 2)] and controller.wakes == 3
    with pytest.raises(ConflictError, match="already exists"):
        serve.up(store, controller, ME, SERVICE, "sec")
    with pytest.raises(NotFoundError):
        serve.update(store, controller, ME, "nope", SERVICE, "rolling")

    leases = ControllerLeases(store)
    Services(store).set("plain", status="FAILED_CLEANUP")
    assert serve.down(store, controller, ME, None, purge=False) == {"shutting_down": ["sec"], "purged": [], "skipped": ["plain"]}
    assert leases.cancel_requested(KIND, "sec") and not leases.cancel_requested(KIND, "plain") and controller.wakes == 4
    assert serve.down(store, controller, ME, ["plain"], purge=False)["skipped"] == ["plain"] and controller.wakes == 4
    assert serve.down(store, controller, ME, ["plain"], purge=True)["purged"] == ["plain"] and Services(store).get("plain") is None
    with pytest.raises(ConflictError, match="being taken down"):
        serve.update(store, controller, ME, "sec", SERVICE, "rolling")


def test_a_service_nothing_here_can_run_is_refused_at_up(isolated_home, tmp_path):
    """Only local infra is enabled here, and it sells no spot: spot replicas need their on-demand fallback.
    (Planning, not state: one backend is enough.)"""
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    spot = dict(SERVICE, resources={"cpus": 0.25, "use_spot": True})
    with pytest.raises(InfeasibleError, match="spot"):
        serve.up(store, None, ME, spot, "spot")
    with pytest.raises(InfeasibleError, match="H100"):
        serve.up(store, None, ME, dict(SERVICE, resources={"accelerators": "H100:8"}), "gpu")
    fallback = dict(spot, service={"readiness_probe": "/", "replica_policy": {"min_replicas": 1, "base_ondemand_fallback_replicas": 1}})
    assert serve.up(store, None, ME, fallback, "spot")["version"] == 1
    assert [s.name for s in Services(store).all()] == ["spot"]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_a_tls_key_and_certificate_under_home_are_sent_absolute_and_load_at_up(isolated_home, tmp_path):
    """SkyServe's docs write them `~/certs/...`; the load balancer (started by the server, not a shell) reads the
    path it is given, so the client expands it. A pair that does not load is refused at `up`."""
    from skyhop.client.serve import _body_task
    from skyhop.spec.errors import SpecError
    from skyhop.spec.task import Task

    certs = isolated_home / "certs"
    certs.mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(certs / "key.pem"), "-out", str(certs / "cert.pem")],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    tls = {"keyfile": "~/certs/key.pem", "certfile": "~/certs/cert.pem"}
    sent = _body_task(Task.from_dict(dict(SERVICE, service=dict(SERVICE["service"], tls=tls))))
    assert sent["service"]["tls"] == {"keyfile": str(certs / "key.pem"), "certfile": str(certs / "cert.pem")}
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    assert serve.up(store, None, ME, sent, "tls")["version"] == 1
    swapped = dict(sent, service=dict(sent["service"], tls={"keyfile": str(certs / "cert.pem"), "certfile": str(certs / "cert.pem")}))
    with pytest.raises(SpecError, match=r"service\.tls"):
        serve.up(store, None, ME, swapped, "tls2")
