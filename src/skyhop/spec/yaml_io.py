"""Reading and writing task YAML (PyYAML's C loader when present).

`yaml` is imported here, inside functions, so that `import skyhop` stays light.
This is the only module that parses YAML, so the bounds on hostile input live
here: a file over `MAX_YAML_BYTES` is refused before it is parsed, and a
document whose aliases expand to more than `MAX_YAML_NODES` values (a "billion
laughs" bomb: a few hundred bytes that become gigabytes once anything walks,
copies or serializes the result) is refused right after parsing, while the
aliases are still shared references that cost nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skyhop.spec.errors import SpecError

#: Far above any real task or config file (SkyPilot's largest examples are a few KiB).
MAX_YAML_BYTES = 4 * 2**20
#: Values (mappings, lists and scalars) a document may hold once its aliases are expanded.
MAX_YAML_NODES = 1_000_000


def read_text(path: str | Path) -> str:
    try:
        with Path(path).expanduser().open("rb") as f:
            data = f.read(MAX_YAML_BYTES + 1)
        if len(data) > MAX_YAML_BYTES:
            raise SpecError("", f"{path} is larger than {MAX_YAML_BYTES // 2**20} MiB, far more than any task or config file needs; refusing to parse it")
        return data.decode("utf-8")
    except FileNotFoundError:
        raise SpecError("", f"file not found: {path}") from None
    except IsADirectoryError:
        raise SpecError("", f"is a directory, not a task file: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError("", f"cannot read {path}: {error}") from None


def load_documents(text: str) -> list[Any]:
    """All YAML documents in `text`; YAML syntax errors and oversized input become SpecErrors."""
    import yaml

    if len(text) > MAX_YAML_BYTES:
        raise SpecError("", f"the YAML text is larger than {MAX_YAML_BYTES // 2**20} MiB, far more than any task or config file needs; refusing to parse it")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        documents = [doc for doc in yaml.load_all(text, Loader=loader)]
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise SpecError("", f"not valid YAML{where}: {problem}") from None
    _check_expanded_size(documents)
    return documents


def _check_expanded_size(documents: list[Any]) -> None:
    """Count values as if every alias were copied out, stopping at the limit.

    The walk costs at most MAX_YAML_NODES steps whatever the input, and a
    self-referencing alias (a cycle) simply runs into the same limit.
    """
    budget = MAX_YAML_NODES
    stack: list[Any] = list(documents)
    while stack:
        value = stack.pop()
        budget -= 1
        if budget < 0:
            raise SpecError(
                "",
                f"the YAML expands to more than {MAX_YAML_NODES:,} values once its aliases (*name) are resolved",
                hint="This is what an alias bomb (\"billion laughs\") looks like; a real task file uses an alias a few times at most. Refusing to use it.",
            )
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def dump_yaml(data: Any) -> str:
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(data, Dumper=dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)
