"""What this machine has to offer: CPUs, memory and (via nvidia-smi) GPUs.

Read once per process; nvidia-smi is only run when it is on PATH, so machines
without GPUs pay nothing.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass

from skyhop.spec.accelerators import canonical_accelerator


@dataclass(frozen=True)
class Machine:
    cpus: int
    memory_gib: float
    gpu_name: str | None
    gpu_ids: tuple[int, ...]
    gpu_memory_gib: float | None


def _memory_gib() -> float:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3, 1)
    except (ValueError, OSError, AttributeError):
        return 0.0


def gpu_model(product_name: str) -> str:
    """nvidia-smi's "NVIDIA H100 80GB HBM3" -> the catalog's canonical "H100"."""
    words = product_name.replace("NVIDIA", "").replace("Tesla", "").replace("GeForce", "").split()
    if not words:
        return product_name
    variant = [w for w in words[1:] if w.upper() in ("PCIE", "NVL", "SXM", "SXM4", "SXM5")]
    name = words[0] + ("-" + variant[0] if variant and variant[0].upper() in ("PCIE", "NVL") else "")
    if words[0].upper() == "A100" and any("80GB" in w.upper() for w in words):
        name = "A100-80GB" + ("-PCIE" if variant and variant[0].upper() == "PCIE" else "")
    return canonical_accelerator(name)


def _gpus() -> tuple[str | None, tuple[int, ...], float | None]:
    if shutil.which("nvidia-smi") is None:
        return None, (), None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, (), None
    rows = [[part.strip() for part in line.split(",")] for line in out.splitlines() if line.strip()]
    rows = [r for r in rows if len(r) >= 3 and r[0].isdigit()]
    if not rows:
        return None, (), None
    memory = float(rows[0][2]) / 1024 if rows[0][2].replace(".", "").isdigit() else None
    return gpu_model(rows[0][1]), tuple(int(r[0]) for r in rows), round(memory, 1) if memory else None


@functools.lru_cache(maxsize=1)
def this_machine() -> Machine:
    name, ids, memory = _gpus()
    return Machine(os.cpu_count() or 1, _memory_gib(), name, ids, memory)
