"""The real `skyhop` CLI in a pseudo-terminal, the way a user at a keyboard runs it.

Prompts only appear on a terminal, and Ctrl-C at a prompt is the terminal's
line discipline sending SIGINT to the foreground process group: both need a
real pty that is the command's controlling terminal (a pipe would not do).
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

CTRL_C = "\x03"


class Terminal:
    """One `skyhop ARGS` run on a pty; read its screen, type into it, wait for it."""

    def __init__(self, env: dict[str, str], cwd: Path, *args: str) -> None:
        master, slave = pty.openpty()
        self.master = master
        self.screen = ""

        def take_terminal() -> None:  # runs in the child, after setsid: the pty becomes its controlling tty
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            # A shell starts background jobs with SIGINT ignored, and children inherit that: the
            # Ctrl-C cases would then wait out `finish`'s timeout. A user's terminal has the default.
            signal.signal(signal.SIGINT, signal.SIG_DFL)

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "skyhop.cli.main", *args], stdin=slave, stdout=slave, stderr=slave,
            env=env, cwd=cwd, start_new_session=True, preexec_fn=take_terminal,
        )
        os.close(slave)

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the child closed the terminal
            return False
        if not data:
            return False
        self.screen += data.decode(errors="replace").replace("\r\n", "\n")
        return True

    def expect(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.screen:
            if time.monotonic() > deadline or not self._read(0.2) and text not in self.screen:
                raise AssertionError(f"{text!r} never appeared; the screen so far:\n{self.screen}")

    def type(self, keys: str) -> None:
        """Type once the program waits on the terminal: keys that arrive while the prompt is
        still being set up can be flushed by it (readline prepares the terminal with a flush)."""
        self._wait_until_reading()
        os.write(self.master, keys.encode())

    def _wait_until_reading(self, timeout: float = 10) -> None:
        """Until the process sleeps in a terminal read (Linux's wchan); elsewhere, a short pause."""
        wchan = Path(f"/proc/{self.proc.pid}/wchan")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if wchan.read_text().strip() in ("wait_woken", "n_tty_read"):
                    return
            except OSError:
                time.sleep(0.2)
                return
            time.sleep(0.01)

    def finish(self, timeout: float = 180) -> int:
        """Read to the end; the exit code."""
        deadline = time.monotonic() + timeout
        while self._read(0.2) and time.monotonic() < deadline:
            if self.proc.poll() is not None and not select.select([self.master], [], [], 0.2)[0]:
                break
        code = self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        os.close(self.master)
        assert "Traceback" not in self.screen, self.screen
        return code
