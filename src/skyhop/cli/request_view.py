"""Show a running request: a spinner with the current phase, messages, and the job's output.

Ctrl-C before anything runs on the machines (planning, provisioning, the
file sync) cancels the request: the server removes what the launch created,
and the user sees it happen, so an interrupted launch leaves nothing billing.
Once the job runs, Ctrl-C detaches: the request keeps running in the API
server, and the user is told how to re-attach or cancel it. A second Ctrl-C
while a cancel is cleaning up detaches too. A client going away (a closed
laptop, a lost connection) never kills a launch half-way.
"""

from __future__ import annotations

import sys
from typing import Any

import click


class _Phases:
    """Phase display: a rich spinner on a terminal, plain lines otherwise (logs, CI)."""

    def __init__(self) -> None:
        self._shown = ""
        self._status = None
        if sys.stderr.isatty():
            from rich.console import Console

            self._status = Console(stderr=True).status("")

    def phase(self, name: str, *, spin: bool = True) -> None:
        """Show a phase: spinning on a terminal, else (or with `spin=False`) one line per new phase."""
        if self._status is not None and spin:
            self._status.update(f"[bold]{name}[/bold]...")
            self._status.start()
        else:
            self.pause()
            if name != self._shown:
                click.echo(f"[skyhop] {name}...", err=True)
        self._shown = name

    def pause(self) -> None:
        if self._status is not None:
            self._status.stop()


#: Phases in which Ctrl-C cancels the request (nothing of the user's runs yet) instead of detaching.
CANCEL_ON_INTERRUPT = frozenset({"optimizing", "provisioning", "syncing"})


class _Renderer:
    """Turns a request's events into what the user sees (phases, messages, attempts, countdowns, job output)."""

    def __init__(self, *, output_to_stderr: bool = False, attempts: list | None = None) -> None:
        self.phases = _Phases()
        self.current = ""
        self.seen = 0  # events shown so far: following the request again starts from its first event
        self._output_to_stderr = output_to_stderr
        self._attempts = attempts

    def again(self) -> Any:
        """A callback for following the same request once more: the events already shown are skipped."""
        skip = self.seen

        def render(event: dict[str, Any]) -> None:
            nonlocal skip
            if skip > 0:
                skip -= 1
            else:
                self(event)

        return render

    def __call__(self, event: dict[str, Any]) -> None:
        self.seen += 1
        if "phase" in event:
            self.current = event["phase"]
            self.phases.phase(self.current, spin=self.current != "running")  # from "running" on, the job's output speaks
        elif "msg" in event:
            self._say(event["msg"])
        elif "attempt" in event:
            # Each failed offer as it happens; the final table (and --output json) lists them all again.
            from skyhop.planning.failover import Attempt

            self._say(f"[skyhop] {Attempt.from_json(event['attempt']).line()}")
            if self._attempts is not None:
                self._attempts.append(event["attempt"])
        elif "countdown" in event:
            wait = event["countdown"]
            self.phases.phase(f"{wait['what']}: next try in {wait['left']}s")
        elif "out" in event:
            self.phases.pause()
            stream = sys.stderr if self._output_to_stderr else sys.stdout
            stream.write(event["out"])
            stream.flush()

    def _say(self, text: str) -> None:
        self.phases.pause()
        click.echo(text, err=True)
        if self.current and self.current != "running":
            self.phases.phase(self.current)


def follow_request(request_id: str, *, output_to_stderr: bool = False, attempts: list | None = None) -> dict[str, Any]:
    """Render a request to its end; returns its record (raises its error).

    With `output_to_stderr` the job's output goes to stderr, keeping stdout for JSON.
    A launch's attempts (each offer tried and why it failed) are appended to `attempts`.
    """
    from skyhop.client import api

    render = _Renderer(output_to_stderr=output_to_stderr, attempts=attempts)
    try:
        try:
            return api.follow(request_id, render)
        except KeyboardInterrupt:
            if render.current not in CANCEL_ON_INTERRUPT:
                raise
            render.phases.pause()
            api.cancel_request(request_id)
            click.echo(f"\nCancelling: removing what this request created (Ctrl-C again to detach; request {request_id}).", err=True)
            return api.follow(request_id, render.again())
    except KeyboardInterrupt:
        render.phases.pause()
        click.echo(
            f"\nDetached; the request keeps running in the API server.\n"
            f"  Re-attach: skyhop api logs {request_id}\n  Cancel:    skyhop api cancel {request_id}",
            err=True,
        )
        raise SystemExit(130) from None
    finally:
        render.phases.pause()


def run_request(name: str, body: dict[str, Any], *, output_to_stderr: bool = False, attempts: list | None = None) -> Any:
    from skyhop.client import api

    request_id = api.submit(name, body)
    record = follow_request(request_id, output_to_stderr=output_to_stderr, attempts=attempts)
    return record.get("result")


def job_exit_code(status: str | None, code: Any) -> int:
    """What the CLI exits with for a finished job: 0 on success, else the job's own code, or 1."""
    if status == "SUCCEEDED":
        return 0
    return code if isinstance(code, int) and 0 < code < 256 else 1


def exit_for_job(result: dict[str, Any]) -> None:
    """launch/exec without -d exit like the job."""
    if result.get("detached") or result.get("job_status") == "SUCCEEDED":
        return
    status = result.get("job_status")
    reason = f" ({result['failure_reason']})" if result.get("failure_reason") else ""
    click.echo(f"Job {result.get('job_id')} on '{result.get('cluster')}' ended {status}{reason}.", err=True)
    raise SystemExit(job_exit_code(status, result.get("exit_code")))
