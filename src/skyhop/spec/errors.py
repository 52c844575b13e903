"""Spec errors that name the field path, the value, and what was expected."""

from __future__ import annotations

from typing import Any, Iterable

from skyhop.errors import SkyhopError

_MAX_VALUE_CHARS = 80


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """Closest choice to `word`, compared case-insensitively, or None."""
    by_lower = {c.lower(): c for c in choices}
    import difflib  # only when a word needs a suggestion

    matches = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[matches[0]] if matches else None


def show_value(value: Any) -> str:
    """A short, single-line rendering of an offending value."""
    text = repr(value)
    if len(text) > _MAX_VALUE_CHARS:
        text = text[: _MAX_VALUE_CHARS - 3] + "..."
    return text


class SpecError(SkyhopError):
    """A task or resources description is invalid.

    The message is one paragraph: where (`path`, plus the file when known),
    what was found, what was expected, and a hint such as "did you mean".
    """

    def __init__(
        self,
        path: str,
        message: str,
        *,
        value: Any = ...,
        expected: str | None = None,
        hint: str | None = None,
        source: str | None = None,
    ) -> None:
        self.path = path
        self.detail = message
        self.value = value
        self.expected = expected
        self.hint = hint
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"{self.source}: " if self.source else ""
        field = f"field '{self.path}'" if self.path else "task"
        parts = [f"{where}Invalid {field}: {self.detail}"]
        if self.value is not ...:
            parts[0] += f" (got {show_value(self.value)})"
        text = parts[0] + "."
        if self.expected:
            text += f" Expected {self.expected}."
        if self.hint:
            text += f" {self.hint}"
        return text

    def within(self, prefix: str) -> "SpecError":
        """The same error, its path inside `prefix` (`task[1]` of a pipeline: `task[1].resources.cpus`)."""
        return SpecError(
            f"{prefix}.{self.path}" if self.path else prefix, self.detail,
            value=self.value, expected=self.expected, hint=self.hint, source=self.source,
        )

    def with_source(self, source: str) -> "SpecError":
        """The same error, naming the file it came from."""
        return SpecError(
            self.path, self.detail, value=self.value, expected=self.expected, hint=self.hint, source=source
        )


def join_path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else str(key)
