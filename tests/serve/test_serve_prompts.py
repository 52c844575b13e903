"""`serve up` and `serve down` ask first (without -y), at a real terminal: "n" (to `up`) and Ctrl-C (to `down`)
change nothing and print no traceback; "y" does it. `serve up` shows the replica policy and where each replica would run before asking."""

from __future__ import annotations

from pty_terminal import CTRL_C, Terminal

SERVICE = "name: web\nresources: {cpus: 0.25}\nrun: python3 -m http.server 8080\nservice: {readiness_probe: /health, replicas: 2}\n"


def _at_prompt(sky, prompt: str, *args: str) -> Terminal:
    term = Terminal(sky.env, sky.cwd, *args)
    term.expect(prompt)
    return term


def test_serve_up_shows_the_plan_and_serve_down_asks(quiet_sky):
    sky = quiet_sky
    path = sky.task("web.yaml", SERVICE)
    term = _at_prompt(sky, "Serve up?", "serve", "up", path)
    assert "Service web: Fixed 2 replicas; readiness probe /health." in term.screen and "Each replica: 1x local" in term.screen
    term.type("n\n")
    assert term.finish() == 1 and "Traceback" not in term.screen
    assert sky.json("serve", "status") == []
    term = _at_prompt(sky, "Serve up?", "serve", "up", path)
    term.type("y\n")
    assert term.finish() == 0 and "Service 'web' is starting (version 1)" in term.screen
    term = _at_prompt(sky, "Take down service(s) web?", "serve", "down", "web")
    term.type(CTRL_C)
    assert term.finish() != 0 and "Traceback" not in term.screen
    assert sky.json("serve", "status")[0]["status"] == "CONTROLLER_INIT"
    term = _at_prompt(sky, "Take down service(s) web?", "serve", "down", "web")
    term.type("y\n")
    assert term.finish() == 0 and sky.json("serve", "status")[0]["status"] == "SHUTTING_DOWN"
