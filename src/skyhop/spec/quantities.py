"""Small value types of a resources request: accelerators, cpus/memory, autostop, recovery."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from skyhop.spec.accelerators import canonical_accelerator
from skyhop.spec.errors import SpecError
from skyhop.spec.fields import as_bool, as_int, as_mapping, as_str, check_keys, format_number, number_out


@dataclass(frozen=True)
class Accelerator:
    """One accelerator request: canonical name and count per node."""

    name: str
    count: float = 1

    @classmethod
    def parse(cls, text: Any, path: str) -> "Accelerator":
        if not isinstance(text, str):
            raise SpecError(path, "wrong type", value=text, expected="'<name>' or '<name>:<count>', e.g. 'H100:8'")
        name, sep, count_text = text.strip().rpartition(":")
        if not sep:
            name, count_text = count_text, "1"
        return cls.of(name, count_text, path, original=text)

    @classmethod
    def of(cls, name: Any, count: Any, path: str, *, original: Any = None) -> "Accelerator":
        shown = original if original is not None else f"{name}:{count}"
        if not isinstance(name, str) or not name.strip():
            raise SpecError(path, "missing accelerator name", value=shown, expected="'<name>:<count>', e.g. 'H100:8'")
        try:
            if isinstance(count, bool):  # `{H100: true}` is a typo, not a count of 1
                raise ValueError(count)
            number = float(count)
        except (TypeError, ValueError):
            raise SpecError(path, "accelerator count is not a number", value=shown, expected="'<name>:<count>', e.g. 'H100:8'") from None
        _check_amount(number, path, shown, "a count > 0", "accelerator count")
        if number > 1 and not number.is_integer():
            raise SpecError(path, "fractional counts are only allowed below 1", value=shown, expected="a whole count, or a fraction < 1")
        return cls(canonical_accelerator(name), number_out(number))

    def __str__(self) -> str:
        return f"{self.name}:{format_number(self.count)}"


@dataclass(frozen=True)
class Quantity:
    """A cpus or memory request: exactly `value`, or at least it (`"4+"`)."""

    value: float
    at_least: bool = False

    @classmethod
    def parse(cls, raw: Any, path: str, unit: str) -> "Quantity":
        expected = f"a number of {unit} like 4 (exactly) or '4+' (at least)"
        if isinstance(raw, bool):
            raise SpecError(path, "wrong type", value=raw, expected=expected)
        at_least = False
        text = raw
        if isinstance(raw, str):
            text = raw.strip()
            if text.endswith("+"):
                at_least, text = True, text[:-1].strip()
        try:
            number = float(text)
        except (TypeError, ValueError):
            raise SpecError(path, "not a quantity", value=raw, expected=expected) from None
        _check_amount(number, path, raw, expected)
        return cls(number_out(number), at_least)

    def satisfied_by(self, amount: float) -> bool:
        return amount >= self.value if self.at_least else abs(amount - self.value) < 1e-6

    def __str__(self) -> str:
        return format_number(self.value) + ("+" if self.at_least else "")

    def dump(self) -> Any:
        return str(self) if self.at_least else number_out(self.value)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([kmgtp])(i?b?))?\s*$", re.IGNORECASE)
_SIZE_TO_GB = {"k": 2.0**-20, "m": 2.0**-10, "g": 1.0, "t": 2.0**10, "p": 2.0**20}


def parse_size_gb(raw: Any, path: str) -> float:
    """`256`, `'1024GB'`, `'1TB'`, `'10Gi'` -> GB, as SkyPilot reads disk and
    volume sizes (a bare number is GB; units are binary, 1 TB = 1024 GB)."""
    expected = "a size in GB like 256, or with a unit like '1024GB', '1TB', '10Gi'"
    if isinstance(raw, bool):
        raise SpecError(path, "wrong type", value=raw, expected=expected)
    if isinstance(raw, (int, float)):
        number = float(raw)
    else:
        match = _SIZE.match(raw) if isinstance(raw, str) else None
        if not match:
            raise SpecError(path, "not a size", value=raw, expected=expected)
        number = float(match.group(1)) * _SIZE_TO_GB[(match.group(2) or "g").lower()]
    _check_amount(number, path, raw, expected)
    return number


#: More vCPUs, GB or accelerators than any machine or cluster has; bounds what a typo or a hostile request can ask
#: (10**30 cpus would otherwise travel to the optimizer and the state store as a real request).
MAX_AMOUNT = 1e9


def _check_amount(number: float, path: str, raw: Any, expected: str, what: str = "") -> None:
    """A count, size or quantity must be above zero and at most MAX_AMOUNT (NaN and infinity are neither)."""
    subject = f"{what} " if what else ""
    if not 0 < number < float("inf"):  # also NaN
        raise SpecError(path, f"{subject}must be positive", value=raw, expected=expected)
    if not number <= MAX_AMOUNT:
        raise SpecError(path, f"{subject}must be at most {MAX_AMOUNT:,.0f}", value=raw, expected=expected)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhd]?)\s*$", re.IGNORECASE)
_UNIT_MINUTES = {"": 1, "m": 1, "h": 60, "d": 1440}
DEFAULT_AUTOSTOP_MINUTES = 5


def parse_minutes(raw: Any, path: str) -> int:
    """`30`, `'30m'`, `'2h'`, `'1d'` -> minutes."""
    if isinstance(raw, bool):
        raise SpecError(path, "wrong type", value=raw, expected="minutes, or a duration like '30m', '2h', '1d'")
    if isinstance(raw, (int, float)):
        return as_int(raw, path, minimum=0)
    match = _DURATION.match(raw) if isinstance(raw, str) else None
    if not match:
        raise SpecError(path, "not a duration", value=raw, expected="minutes, or a duration like '30m', '2h', '1d'")
    return int(float(match.group(1)) * _UNIT_MINUTES[match.group(2).lower()])


_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"": 60, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_seconds(raw: Any, path: str) -> int:
    """`'90s'`, `'30m'`, `'36h'`, `'2d'` -> seconds; a bare number is minutes, as in autostop."""
    expected = "a duration like '90s', '30m', '36h', '2d' (a bare number is minutes)"
    if isinstance(raw, bool):
        raise SpecError(path, "wrong type", value=raw, expected=expected)
    match = _SPAN.match(str(raw)) if isinstance(raw, (int, float, str)) else None
    if not match:
        raise SpecError(path, "not a duration", value=raw, expected=expected)
    return int(float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()])


@dataclass(frozen=True)
class Autostop:
    """Stop (or tear down, with `down`) a cluster idle for `idle_minutes`."""

    idle_minutes: int = DEFAULT_AUTOSTOP_MINUTES
    down: bool = False
    enabled: bool = True

    @classmethod
    def parse(cls, raw: Any, path: str) -> "Autostop":
        if isinstance(raw, bool):
            return cls() if raw else cls(idle_minutes=0, enabled=False)
        if isinstance(raw, dict):
            check_keys(raw, ("idle_minutes", "down"), path, "autostop")
            minutes = raw.get("idle_minutes", DEFAULT_AUTOSTOP_MINUTES)
            down = raw.get("down", False)
            return cls(parse_minutes(minutes, f"{path}.idle_minutes"), as_bool(down, f"{path}.down"))
        return cls(parse_minutes(raw, path))

    def dump(self) -> Any:
        if not self.enabled:
            return False
        if self.down:
            return {"idle_minutes": self.idle_minutes, "down": True}
        return self.idle_minutes


RECOVERY_STRATEGIES = ("FAILOVER", "EAGER_NEXT_REGION", "UNIFORM_PROGRESS")
DEADLINE_STRATEGIES = ("UNIFORM_PROGRESS",)
DEFAULT_CHANGEOVER_SECONDS = 720  # the Can't Be Late paper's changeover delay, 0.2 h
_RECOVERY_KEYS = ("strategy", "max_restarts_on_errors", "recover_on_exit_codes", "deadline", "runtime", "changeover")


@dataclass(frozen=True)
class JobRecovery:
    """How a managed job recovers from preemption and errors (SkyPilot's `job_recovery`).

    `recover_on_exit_codes` always restart, beyond `max_restarts_on_errors`.
    The deadline fields belong to the deadline-aware strategies (UNIFORM_PROGRESS):
    `deadline` is wall-clock time from submission, `runtime` the time the job
    needs on a machine that is never taken away, `changeover` what each
    (re)start costs before the job makes progress again.
    """

    strategy: str | None = None
    max_restarts_on_errors: int = 0
    recover_on_exit_codes: tuple[int, ...] = ()
    deadline_seconds: int | None = None
    runtime_seconds: int | None = None
    changeover_seconds: int = DEFAULT_CHANGEOVER_SECONDS

    @classmethod
    def parse(cls, raw: Any, path: str) -> "JobRecovery":
        if isinstance(raw, str) or raw is None:
            recovery = cls(cls._strategy(raw, path))
            recovery._check_deadline(path)
            return recovery
        mapping = as_mapping(raw, path, "a strategy name or {strategy, max_restarts_on_errors, recover_on_exit_codes, deadline, runtime, changeover}")
        check_keys(mapping, _RECOVERY_KEYS, path, "job_recovery")
        restarts = as_int(mapping.get("max_restarts_on_errors", 0), f"{path}.max_restarts_on_errors", minimum=0)
        recovery = cls(
            cls._strategy(mapping.get("strategy"), f"{path}.strategy"),
            restarts,
            _exit_codes(mapping.get("recover_on_exit_codes"), f"{path}.recover_on_exit_codes"),
            _optional_seconds(mapping.get("deadline"), f"{path}.deadline"),
            _optional_seconds(mapping.get("runtime"), f"{path}.runtime"),
            parse_seconds(mapping.get("changeover", f"{DEFAULT_CHANGEOVER_SECONDS}s"), f"{path}.changeover"),
        )
        recovery._check_deadline(path)
        return recovery

    @staticmethod
    def _strategy(raw: Any, path: str) -> str | None:
        if raw is None:
            return None
        name = as_str(raw, path).strip().upper()
        if name not in RECOVERY_STRATEGIES:
            raise SpecError(path, "unknown recovery strategy", value=raw, expected=" or ".join(RECOVERY_STRATEGIES))
        return name

    def _check_deadline(self, path: str) -> None:
        """A deadline strategy needs both times, and a deadline the job can meet at all."""
        deadline_fields = self.deadline_seconds is not None or self.runtime_seconds is not None
        if self.strategy not in DEADLINE_STRATEGIES:
            if deadline_fields:
                raise SpecError(path, "'deadline' and 'runtime' belong to a deadline strategy", expected="strategy: UNIFORM_PROGRESS")
            return
        for key, value in (("deadline", self.deadline_seconds), ("runtime", self.runtime_seconds)):
            if value is None:
                raise SpecError(f"{path}.{key}", f"{self.strategy} needs 'deadline' and 'runtime'", expected="durations like '36h', e.g. {strategy: UNIFORM_PROGRESS, deadline: 36h, runtime: 24h}")
            if value <= 0:
                raise SpecError(f"{path}.{key}", "must be positive", value=f"{value}s", expected="a duration like '36h'")
        assert self.deadline_seconds is not None and self.runtime_seconds is not None
        if self.deadline_seconds < self.runtime_seconds + self.changeover_seconds:
            raise SpecError(
                f"{path}.deadline", "cannot be met even on a machine that is never taken away",
                value=f"{self.deadline_seconds}s", expected=f"at least runtime + changeover = {self.runtime_seconds + self.changeover_seconds}s",
            )

    def dump(self) -> Any:
        if self.strategy and not self.max_restarts_on_errors and not self.recover_on_exit_codes and self.strategy not in DEADLINE_STRATEGIES:
            return self.strategy
        out: dict[str, Any] = {}
        if self.strategy:
            out["strategy"] = self.strategy
        if self.max_restarts_on_errors or not self.strategy:
            out["max_restarts_on_errors"] = self.max_restarts_on_errors
        if self.recover_on_exit_codes:
            out["recover_on_exit_codes"] = list(self.recover_on_exit_codes)
        if self.strategy in DEADLINE_STRATEGIES:
            out["deadline"] = f"{self.deadline_seconds}s"
            out["runtime"] = f"{self.runtime_seconds}s"
            out["changeover"] = f"{self.changeover_seconds}s"
        return out


def _optional_seconds(raw: Any, path: str) -> int | None:
    return None if raw is None else parse_seconds(raw, path)


def _exit_codes(raw: Any, path: str) -> tuple[int, ...]:
    """One exit code or a list of them, each 0..255 (SkyPilot accepts both forms)."""
    if raw is None:
        return ()
    items = raw if isinstance(raw, list) else [raw]
    return tuple(sorted({as_int(code, f"{path}[{i}]" if isinstance(raw, list) else path, minimum=0, maximum=255) for i, code in enumerate(items)}))
