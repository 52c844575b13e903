"""Reading and writing task YAML (PyYAML's C loader when present).

`yaml` is imported here, inside functions, so that `import skyhop` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skyhop.spec.errors import SpecError


def read_text(path: str | Path) -> str:
    try:
        return Path(path).expanduser().read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("", f"file not found: {path}") from None
    except IsADirectoryError:
        raise SpecError("", f"is a directory, not a task file: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError("", f"cannot read {path}: {error}") from None


def load_documents(text: str) -> list[Any]:
    """All YAML documents in `text`; YAML syntax errors become SpecErrors with a line."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return [doc for doc in yaml.load_all(text, Loader=loader)]
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise SpecError("", f"not valid YAML{where}: {problem}") from None


def dump_yaml(data: Any) -> str:
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(data, Dumper=dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)
