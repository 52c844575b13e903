"""The launch output shows each failed attempt as it happens, and the retry countdown (cli/request_view.py)."""

from __future__ import annotations

from skyhop.catalog.offer import Offer
from skyhop.cli.request_view import _Renderer
from skyhop.optimizer.plan import Candidate
from skyhop.planning import failover
from skyhop.spec.resources import Resources

OFFER = Offer("aws", "p5.48xlarge", "H100", 8.0, 192.0, 2048.0, "us-east-1", "us-east-1a", 98.3, None, None)


def test_attempts_are_shown_live_and_collected_for_json(capsys):
    collected: list = []
    render = _Renderer(attempts=collected)
    full = failover.Attempt.failed(Candidate(OFFER, Resources(), False, 1, 1.0), "InsufficientInstanceCapacity: no p5 in us-east-1a.", "zone")
    render({"phase": "provisioning"})
    render({"attempt": full.to_json()})
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == (
        "[skyhop] aws/us-east-1/us-east-1a p5.48xlarge: InsufficientInstanceCapacity: no p5 in us-east-1a. "
        "Blocked zone aws/us-east-1/us-east-1a; trying the next candidate."
    )
    assert collected == [full.to_json()]


def test_the_retry_countdown_is_shown_as_it_moves(capsys):
    render = _Renderer()
    for left in (20, 15, 10):
        render({"countdown": {"left": left, "what": "retrying (--retry-until-up)"}})
    render({"phase": "optimizing"})
    assert capsys.readouterr().err.splitlines() == [
        "[skyhop] retrying (--retry-until-up): next try in 20s...",
        "[skyhop] retrying (--retry-until-up): next try in 15s...",
        "[skyhop] retrying (--retry-until-up): next try in 10s...",
        "[skyhop] optimizing...",
    ]
