"""routes.json as the controller writes it: parsed into ledger Routes, re-read only when replaced, refused whole when wrong."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from skyhop.serve.lb.ledger import Route
from skyhop.serve.lb.routes import RoutesError, RoutesFile, parse_hold, parse_routes


def test_weight_multiplies_the_accelerators_qps() -> None:
    document = {
        "routes": [
            {"replica_id": 1, "url": "http://10.0.0.1:8080/", "accelerator": "A100:8", "weight": 1.0},
            {"replica_id": 2, "url": "http://10.0.0.2:8080", "accelerator": "L4", "weight": 0.5},
            {"replica_id": 3, "url": "http://10.0.0.3:8080", "accelerator": None},
        ],
        "target_qps_per_replica": {"A100": 10, "L4": 4},
    }
    assert parse_routes(document) == [
        Route(1, "http://10.0.0.1:8080", accelerator="A100:8", qps=10.0),
        Route(2, "http://10.0.0.2:8080", accelerator="L4", qps=2.0),
        Route(3, "http://10.0.0.3:8080", qps=1.0),
    ]
    # A plain number is the same target for all: the weights still differ.
    assert [r.qps for r in parse_routes({**document, "target_qps_per_replica": 5})] == [1.0, 0.5, 1.0]


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"routes": "x"},
        {"routes": [{"replica_id": "1", "url": "http://h:1"}]},
        {"routes": [{"replica_id": True, "url": "http://h:1"}]},
        {"routes": [{"replica_id": 1, "url": "https://h:1"}]},
        {"routes": [{"replica_id": 1, "url": "h:1"}]},
        {"routes": [{"replica_id": 1, "url": "http://h:1", "weight": 0}]},
        {"routes": [{"replica_id": 1, "url": "http://h:1", "accelerator": 3}]},
        {"routes": [], "target_qps_per_replica": "fast"},
    ],
)
def test_a_wrong_document_is_refused_whole(document: object) -> None:
    with pytest.raises(RoutesError):
        parse_routes(document)


def test_hold_is_true_unless_the_controller_says_false() -> None:
    assert parse_hold({"routes": []}) is True
    assert parse_hold({"routes": [], "hold": False}) is False
    with pytest.raises(RoutesError, match="hold"):
        parse_hold({"routes": [], "hold": "no"})


def test_the_file_is_read_again_only_when_replaced(tmp_path: Path) -> None:
    watched = RoutesFile(tmp_path)
    assert watched.changed() is None  # no file yet: nothing to apply

    def replace(routes: list[dict[str, object]]) -> None:
        (tmp_path / "tmp").write_text(json.dumps({"routes": routes}))
        os.replace(tmp_path / "tmp", tmp_path / "routes.json")

    replace([{"replica_id": 1, "url": "http://h:1"}])
    assert [r.replica_id for r in watched.changed() or []] == [1]
    assert watched.changed() is None
    replace([{"replica_id": 1, "url": "http://h:1"}, {"replica_id": 2, "url": "http://h:2"}])
    assert [r.replica_id for r in watched.changed() or []] == [1, 2]
    (tmp_path / "routes.json").write_text("{not json")
    with pytest.raises(RoutesError):
        watched.changed()
    assert watched.changed() is None  # reported once, not on every poll
    replace([])
    assert watched.changed() == []


def test_a_load_balancer_whose_folder_is_removed_stops_itself(tmp_path: Path) -> None:
    """Its folder goes with the service; a load balancer left without it (its server and home gone) once ran for ever."""
    import shutil

    from serve.lb_support import LoadBalancer

    lb = LoadBalancer(tmp_path / "svc", routes=[])
    shutil.rmtree(lb.dir)
    assert lb.process.wait(30) == 0
    assert "is gone; stopping" in lb.stderr()
