"""Spot availability traces: the JSON files of the Can't Be Late, SkyServe and SkyNomad artifacts.

One format covers them all: `{"metadata": {"gap_seconds": G, ...}, "data":
[n0, n1, ...], "prices": [p0, ...]?}`, each `n` the spot instances that could
be had at that tick. What differs is the metadata: some files carry real
timestamps (`start_time`, and where a hole in the measurement was filled,
`gap_filled.second_half_start_time`), and those win over `gap_seconds` when
the two disagree (a measurement loop that slows down still writes its nominal
gap). Prices are taken from a trace only when it gives both sides, a spot
price (per tick in `prices`, or `metadata.price_info.price`) and
`metadata.price_info.on_demand_price`: a spot price alone cannot be
normalised against the flags' on-demand price, whose unit is unknown.
"""

from __future__ import annotations

import datetime
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skyhop.sim.errors import SimError

EXPECTED = 'a JSON object {"metadata": {"gap_seconds": G}, "data": [n0, n1, ...]} with whole numbers of spot instances per tick'
#: Timestamps that disagree with gap_seconds by more than this share win over it.
TIMESTAMP_TOLERANCE = 0.01


@dataclass(frozen=True)
class Trace:
    """One zone's spot availability, tick by tick."""

    path: str
    tick: float  # seconds per sample
    counts: tuple[int, ...]
    spot_prices: tuple[float, ...] | None = None  # per tick, with ondemand_price (both from the trace)
    ondemand_price: float | None = None

    @property
    def name(self) -> str:
        return Path(self.path).stem

    @property
    def duration(self) -> float:
        return self.tick * len(self.counts)

    def available(self, nodes: int = 1) -> tuple[bool, ...]:
        """Per tick: could `nodes` spot instances be had?"""
        return tuple(count >= nodes for count in self.counts)


def load(path: str | Path) -> Trace:
    """Read one trace file; anything else is a `SimError` saying what the file should look like."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise SimError(f"No trace file {path}: give the path of a spot availability trace, e.g. one under ../shared/traces/.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SimError(f"{path} is not a spot trace ({_reason(error)}): expected {EXPECTED}.") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("metadata"), dict) or not isinstance(raw.get("data"), list):
        raise SimError(f"{path} is not a spot trace: expected {EXPECTED}.")
    counts = raw["data"]
    if not counts or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts):
        raise SimError(f"{path} is not a spot trace: its data must be a non-empty list of whole numbers >= 0 (spot instances per tick); expected {EXPECTED}.")
    metadata = raw["metadata"]
    tick = _tick(metadata, path)
    spot_prices, ondemand = _prices(raw, metadata, len(counts))
    return Trace(str(path), tick, tuple(counts), spot_prices, ondemand)


def _reason(error: Exception) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"not JSON: {error.msg} at line {error.lineno}"
    if isinstance(error, UnicodeDecodeError):
        return "not text"
    return str(getattr(error, "strerror", None) or type(error).__name__)


def _tick(metadata: dict[str, Any], path: Path) -> float:
    nominal = _positive(metadata.get("gap_seconds"))
    measured = _measured_tick(metadata)
    if measured is not None and (nominal is None or abs(measured - nominal) > TIMESTAMP_TOLERANCE * nominal):
        return measured
    if nominal is None:
        raise SimError(f"{path} is not a spot trace: metadata.gap_seconds (seconds per tick) must be a positive number, got {metadata.get('gap_seconds')!r}; expected {EXPECTED}.")
    return nominal


def _measured_tick(metadata: dict[str, Any]) -> float | None:
    """Seconds per tick from real timestamps, where the metadata has two of them a known number of ticks apart."""
    filled = metadata.get("gap_filled")
    if not isinstance(filled, dict):
        return None
    start, later = _time(metadata.get("start_time")), _time(filled.get("second_half_start_time"))
    first, gap = filled.get("original_first_half_points"), filled.get("gap_points")
    if start is None or later is None or not isinstance(first, int) or not isinstance(gap, int):
        return None
    between = first + gap
    seconds = (later - start).total_seconds()
    return seconds / between if between > 0 and seconds > 0 else None


def _time(value: Any) -> datetime.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _prices(raw: dict[str, Any], metadata: dict[str, Any], ticks: int) -> tuple[tuple[float, ...] | None, float | None]:
    info = metadata.get("price_info")
    if not isinstance(info, dict):
        return None, None
    ondemand = _positive(info.get("on_demand_price"))
    if ondemand is None:
        return None, None
    per_tick = raw.get("prices")
    if isinstance(per_tick, list) and len(per_tick) == ticks:
        spots = [_positive(p) for p in per_tick]
        if all(p is not None for p in spots):
            return tuple(p for p in spots if p is not None), ondemand
    spot = _positive(info.get("price"))
    return (tuple([spot] * ticks), ondemand) if spot is not None else (None, None)


def _positive(value: Any) -> float | None:
    """`value` as a float when it is a finite number above zero, else None."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    return float(value) if ok else None
