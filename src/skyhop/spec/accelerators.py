"""Accelerator names: one canonical spelling per product.

Catalogs spell the same GPU many ways (`H100_SXM5`, `H100-80G-SXM5`,
`H100-SXM`); users type yet others (`h100`, `a100-80gb`). Both sides go
through `canonical_accelerator` so that a request matches every spelling of
the product and nothing else. Variants that differ in what a job gets (PCIe
versus SXM H100s, 40 versus 80 GB A100s) stay distinct; suffixes that do not
(`_BAREMETAL`, `_PCIE` on cards that only exist as PCIe) are folded away.
"""

from __future__ import annotations

import re
from functools import lru_cache

# canonical name -> other spellings (compared after `_squash`).
_ALIASES: dict[str, tuple[str, ...]] = {
    "H100": ("H100-SXM", "H100-SXM5", "H100_SXM5", "H100-80G-SXM5", "H100-80GB", "H100-80GB-SXM", "H100-MEGA"),
    "H100-PCIE": ("H100_PCIE", "H100-80G-PCIe", "H100-80G-PCIe-NVLink", "H100-NVLINK"),
    "H100-NVL": ("H100_NVL",),
    "H200": ("H200-SXM", "H200-SXM5", "H200_SXM5", "H200-141GB"),
    "A100": ("A100-40GB", "A100-SXM4-40GB"),
    "A100-80GB": ("A100-80GB-SXM", "A100_80G_SXM4", "A100-SXM4-80GB", "A100-80G-SXM4"),
    "A100-80GB-PCIE": ("A100_80G_PCIE", "A100-80G-PCIe", "A100-80G-PCIe-NVLink"),
    "V100-32GB": ("V100_32G_PCIE", "V100-32G"),
    "L4": ("L4_PCIE",),
    "L40": ("L40_PCIE",),
    "L40S": ("L40S_PCIE",),
    "A16": ("A16_PCIE",),
    "RTXA4000": ("A4000", "A4000_PCIE", "RTX-A4000"),
    "RTXA5000": ("A5000", "A5000_PCIE", "RTX-A5000"),
    "RTXA6000": ("A6000", "A6000_PCIE", "RTX-A6000", "A6000_PCIE_HIGH_PERF", "A6000_PCIE_LOW_RAM"),
    "RTX6000-Ada": ("RTX6000Ada", "RTX6000ADA_PCIE", "RTX-6000-Ada", "RTX6000-ADA"),
    "RTXPRO6000": (
        "RTX PRO 6000 96GB",
        "RTX-PRO-6000",
        "RTXPRO6000_PCIE",
        "RTXPRO6000-WK",
        "RTXPRO6000S",
        "RTXPRO6000WS",
    ),
    "RTX5090": ("RTX5090_PCIE",),
    "Gaudi2": ("GAUDI2", "HL-225"),
}

# Deployment details that do not change the device a job sees.
_NEUTRAL_SUFFIXES = ("BAREMETAL",)


def _squash(name: str) -> str:
    """Upper-case alphanumerics only: `rtx-6000_ada` -> `RTX6000ADA`."""
    return re.sub(r"[^0-9A-Z]", "", name.upper())


def _strip_neutral(name: str) -> str:
    for suffix in _NEUTRAL_SUFFIXES:
        if name.upper().endswith("_" + suffix) or name.upper().endswith("-" + suffix):
            return name[: -len(suffix) - 1]
    return name


@lru_cache(maxsize=None)
def _alias_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for canonical, aliases in _ALIASES.items():
        table[_squash(canonical)] = canonical
        for alias in aliases:
            table[_squash(alias)] = canonical
    return table


@lru_cache(maxsize=4096)
def canonical_accelerator(name: str) -> str:
    """The canonical spelling of an accelerator name.

    Unknown names keep their own spelling: a new GPU in a catalog works
    without a code change, and matching stays case- and punctuation-blind
    through `accelerator_key`.
    """
    stripped = _strip_neutral(name.strip())
    return _alias_table().get(_squash(stripped), stripped)


@lru_cache(maxsize=4096)
def accelerator_key(name: str) -> str:
    """The matching key: equal keys mean the same product."""
    return _squash(canonical_accelerator(name))


def known_canonical_names() -> list[str]:
    """Canonical names this module knows without a catalog (for suggestions)."""
    return sorted(_ALIASES)
