"""A stand-in function worker for the relay's tests: the frame protocol, none of the pickling.

`python -u -m echo_worker --rank R [--slots N]`: HELLO first, then for each CALL a RESULT
whose payload says what the call asked (`env:NAME` the variable's value, `out:TEXT` prints TEXT
(an OUT frame), `sleep:S` answers after S seconds, `exit:N` exits with N at once, anything else is echoed), PONG for PING; exits 0 at EOF of stdin.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time

from skyhop_agent import fnwire


def main() -> None:
    rank = int(sys.argv[sys.argv.index("--rank") + 1])
    slots = int(sys.argv[sys.argv.index("--slots") + 1]) if "--slots" in sys.argv else 1
    out = sys.stdout.buffer

    def send(kind: int, call_id: int, payload: bytes = b"") -> None:
        out.write(fnwire.encode(fnwire.Frame(kind, rank, call_id, payload)))
        out.flush()

    hello = {"python": list(sys.version_info[:3]), "implementation": sys.implementation.name, "cloudpickle": None,
             "pid": os.getpid(), "cpus": os.cpu_count(), "slots": slots, "host": socket.gethostname()}
    send(fnwire.HELLO, 0, json.dumps(hello).encode())
    while (frame := fnwire.read_frame(sys.stdin.buffer)) is not None:
        if frame.kind == fnwire.PING:
            send(fnwire.PONG, frame.call_id)
        elif frame.kind == fnwire.CALL:
            if frame.payload.startswith(b"env:"):
                send(fnwire.RESULT, frame.call_id, os.environ.get(frame.payload[4:].decode(), "").encode())
            elif frame.payload.startswith(b"out:"):
                send(fnwire.OUT, 0, bytes([fnwire.STDOUT]) + frame.payload[4:])
                send(fnwire.RESULT, frame.call_id)
            elif frame.payload.startswith(b"sleep:"):
                time.sleep(float(frame.payload[6:]))
                send(fnwire.RESULT, frame.call_id)
            elif frame.payload.startswith(b"exit:"):
                sys.stderr.write("exiting as asked\n")
                sys.stderr.flush()
                os._exit(int(frame.payload[5:]))
            else:
                send(fnwire.RESULT, frame.call_id, frame.payload)


if __name__ == "__main__":
    main()
