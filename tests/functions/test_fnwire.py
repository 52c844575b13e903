"""The functions session's frame format: what the relay, the worker and the caller share."""

from __future__ import annotations

import io
import pickle

import pytest

from skyhop_agent import fnwire


def _stream(*frames: fnwire.Frame) -> io.BytesIO:
    return io.BytesIO(b"".join(fnwire.encode(f) for f in frames))


def test_frames_round_trip_in_order() -> None:
    sent = [fnwire.Frame(fnwire.CALL, 1, 7, b"x" * 1000), fnwire.Frame(fnwire.PING, 0, 2), fnwire.Frame(fnwire.OUT, 65535, 2**32 - 1, b"\x01hi\n")]
    stream = _stream(*sent)
    got = [fnwire.read_frame(stream) for _ in sent]
    assert got == sent
    assert fnwire.read_frame(stream) is None  # a clean end


def test_a_stream_cut_inside_a_frame_is_an_error() -> None:
    data = fnwire.encode(fnwire.Frame(fnwire.RESULT, 0, 1, b"abcdef"))
    for cut in (3, fnwire.HEADER.size, len(data) - 1):
        with pytest.raises(fnwire.FrameError, match="ended"):
            fnwire.read_frame(io.BytesIO(data[:cut]))


def test_unknown_kinds_and_oversized_payloads_are_refused() -> None:
    with pytest.raises(fnwire.FrameError, match="kind"):
        fnwire.encode(fnwire.Frame(99, 0, 0))
    with pytest.raises(fnwire.FrameError, match="kind"):
        fnwire.read_frame(io.BytesIO(fnwire.HEADER.pack(0, 0, 0, 0)))
    with pytest.raises(fnwire.FrameError, match="limit"):
        fnwire.read_frame(io.BytesIO(fnwire.HEADER.pack(fnwire.MAX_PAYLOAD + 1, fnwire.CALL, 0, 0)))


def test_cached_references_pickle_by_reference() -> None:
    ref = pickle.loads(pickle.dumps(fnwire.Cached("ab" * 16)))
    assert isinstance(ref, fnwire.Cached) and ref.digest == "ab" * 16
