"""Typed readers for YAML values that fail with the field path.

Every parser in `skyhop.spec` goes through these so that error wording and
"did you mean" behave the same everywhere.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Mapping

from skyhop.spec.errors import SpecError, did_you_mean, join_path

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_keys(data: Mapping[str, Any], allowed: Iterable[str], path: str, what: str) -> None:
    """Reject unknown keys, suggesting the closest known one."""
    allowed = list(allowed)
    for key in data:
        if not isinstance(key, str):
            raise SpecError(join_path(path, str(key)), f"keys of {what} must be strings", value=key)
        if key not in allowed:
            guess = did_you_mean(key, allowed)
            hint = f"Did you mean '{guess}'?" if guess else f"Known fields: {', '.join(sorted(allowed))}."
            raise SpecError(join_path(path, key), f"unknown field in {what}", hint=hint)


def as_mapping(value: Any, path: str, what: str = "a mapping") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SpecError(path, "wrong type", value=value, expected=what)
    return value


def as_str(value: Any, path: str, *, allow_numbers: bool = False) -> str:
    if isinstance(value, str):
        return value
    if allow_numbers and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise SpecError(path, "wrong type", value=value, expected="a string")


def as_optional_str(value: Any, path: str) -> str | None:
    return None if value is None else as_str(value, path)


def as_bool(value: Any, path: str) -> bool:
    if isinstance(value, bool):
        return value
    raise SpecError(path, "wrong type", value=value, expected="true or false")


#: The largest integer a task field may hold unless it says otherwise: far above any real count, and it fits
#: every integer column and C int the value reaches (10**30 restarts would overflow the state store).
MAX_INT = 2**31 - 1


def as_int(value: Any, path: str, *, minimum: int | None = None, maximum: int = MAX_INT) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str, float)):
        raise SpecError(path, "wrong type", value=value, expected="an integer")
    try:
        number = int(value) if not isinstance(value, float) or value.is_integer() else None
    except ValueError:
        number = None
    if number is None:
        raise SpecError(path, "not an integer", value=value, expected="an integer")
    if minimum is not None and number < minimum:
        raise SpecError(path, "too small", value=value, expected=f"an integer >= {minimum}")
    if number > maximum:
        raise SpecError(path, "too large", value=value, expected=f"an integer <= {maximum}")
    return number


def as_number(value: Any, path: str, *, positive: bool = False, minimum: float | None = None, maximum: float | None = None) -> float:
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or math.isnan(number) or math.isinf(number):
        raise SpecError(path, "not a number", value=value, expected="a number")
    if positive and number <= 0:
        raise SpecError(path, "must be positive", value=value, expected="a number > 0")
    if minimum is not None and number < minimum:
        raise SpecError(path, "too small", value=value, expected=f"a number >= {minimum:g}")
    if maximum is not None and number > maximum:
        raise SpecError(path, "too large", value=value, expected=f"a number <= {maximum:g}")
    return number


def check_env_name(name: Any, parent: str) -> str:
    """`name` if it is an environment variable name, else a SpecError naming `parent.name`.

    Names end up in process environments on every node; one that is not a
    plain identifier (`X;touch /tmp/p`, `A=B`, a newline) has no meaning there
    and is the first thing an injection attempt tries.
    """
    if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
        if not (isinstance(name, str) and name.isprintable()):
            shown = f"{parent}[{name!r}]"
        else:  # a flag is followed by the name as typed (`--env 1A`); a YAML section by a path (`envs.1A`)
            shown = f"{parent} {name}" if parent.startswith("--") else join_path(parent, name)
        raise SpecError(shown, "not a valid variable name", value=name, expected="letters, digits and _ (not starting with a digit)")
    return name


def as_env_map(value: Any, path: str, *, allow_null: bool) -> dict[str, str | None]:
    """`envs`/`secrets`: names are shell identifiers, values strings (numbers coerced)."""
    if value is None:
        return {}
    mapping = as_mapping(value, path, "a mapping of NAME: value")
    out: dict[str, str | None] = {}
    for key, item in mapping.items():
        key_path = join_path(path, check_env_name(key, path))
        if item is None:
            if not allow_null:
                raise SpecError(key_path, "has no value", expected="a string")
            out[key] = None
        elif isinstance(item, bool):
            out[key] = "true" if item else "false"
        else:
            out[key] = as_str(item, key_path, allow_numbers=True)
    return out


def as_list(value: Any, path: str, what: str = "a list") -> list[Any]:
    if not isinstance(value, list):
        raise SpecError(path, "wrong type", value=value, expected=what)
    return value


def format_number(value: float) -> str:
    """`8.0` -> `8`, `0.5` -> `0.5`: how counts and sizes are written back."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def number_out(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)
