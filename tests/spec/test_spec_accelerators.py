"""Accelerator names: aliases fold to one canonical spelling; distinct products stay distinct."""

from __future__ import annotations

import pytest

from skyhop.spec import accelerators
from skyhop.spec.accelerators import accelerator_key, canonical_accelerator, known_canonical_names
from skyhop.spec.errors import SpecError
from skyhop.spec.quantities import Accelerator


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("H100", "H100"),
        ("h100", "H100"),
        ("H100-SXM", "H100"),
        ("H100_SXM5", "H100"),
        ("h100-80g-sxm5", "H100"),
        ("H100-80GB", "H100"),
        ("H100_BAREMETAL", "H100"),
        ("H100-PCIe", "H100-PCIE"),
        ("h100_pcie", "H100-PCIE"),
        ("H100-80G-PCIe-NVLink", "H100-PCIE"),
        ("H100_NVL", "H100-NVL"),
        ("h200-sxm5", "H200"),
        ("A100", "A100"),
        ("a100-40gb", "A100"),
        ("A100-80GB", "A100-80GB"),
        ("a100-80gb", "A100-80GB"),
        ("A100_80G_SXM4", "A100-80GB"),
        ("A100-SXM4-80GB", "A100-80GB"),
        ("A100-80G-PCIe", "A100-80GB-PCIE"),
        ("v100-32g", "V100-32GB"),
        ("L4_PCIE", "L4"),
        ("l40s", "L40S"),
        ("A6000", "RTXA6000"),
        ("rtx-a6000", "RTXA6000"),
        ("rtx6000ada", "RTX6000-Ada"),
        ("RTX PRO 6000 96GB", "RTXPRO6000"),
        ("gaudi2", "Gaudi2"),
        ("HL-225", "Gaudi2"),
        ("  H100  ", "H100"),
    ],
)
def test_known_spellings_fold_to_the_canonical_name(spelling: str, canonical: str) -> None:
    assert canonical_accelerator(spelling) == canonical
    assert accelerator_key(spelling) == accelerator_key(canonical)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("H100", "H100-PCIE"),
        ("H100", "H100-NVL"),
        ("H100", "H200"),
        ("A100", "A100-80GB"),
        ("A100-80GB", "A100-80GB-PCIE"),
        ("L40", "L40S"),
        ("RTXA6000", "RTX6000-Ada"),
        ("V100", "V100-32GB"),
    ],
)
def test_different_products_stay_distinct(a: str, b: str) -> None:
    assert canonical_accelerator(a) != canonical_accelerator(b)
    assert accelerator_key(a) != accelerator_key(b)


@pytest.mark.parametrize("name", ["MI300X", "tpu-v5litepod-8", "RTX4090", "A10G", "B200", "Trainium2"])
def test_unknown_names_keep_their_spelling(name: str) -> None:
    assert canonical_accelerator(name) == name
    # Matching is still blind to case and punctuation.
    assert accelerator_key(name.lower()) == accelerator_key(name.upper()) == accelerator_key(name)
    assert canonical_accelerator(f"{name}_BAREMETAL") == name


def test_canonicalisation_is_idempotent_for_every_known_spelling() -> None:
    for canonical, aliases in accelerators._ALIASES.items():
        assert canonical_accelerator(canonical) == canonical
        for alias in aliases:
            for spelling in (alias, alias.lower(), alias.upper()):
                assert canonical_accelerator(spelling) == canonical, spelling
                assert canonical_accelerator(canonical_accelerator(spelling)) == canonical


def test_no_spelling_is_claimed_by_two_products() -> None:
    owner: dict[str, str] = {}
    for canonical, aliases in accelerators._ALIASES.items():
        for spelling in (canonical, *aliases):
            key = accelerators._squash(spelling)
            assert owner.setdefault(key, canonical) == canonical, f"{spelling!r}: {owner[key]} vs {canonical}"


def test_known_canonical_names() -> None:
    names = known_canonical_names()
    assert names == sorted(names)
    assert {"H100", "A100-80GB", "H200", "L4"} <= set(names)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("H100:8", Accelerator("H100", 8)),
        ("h100-sxm:8", Accelerator("H100", 8)),
        ("H100", Accelerator("H100", 1)),
        ("T4:0.5", Accelerator("T4", 0.5)),
        (" A100-80GB : 4 ", Accelerator("A100-80GB", 4)),
        ("tpu-v5litepod-8:1", Accelerator("tpu-v5litepod-8", 1)),
        ("L4:2.0", Accelerator("L4", 2)),
    ],
)
def test_accelerator_parse(text: str, expected: Accelerator) -> None:
    parsed = Accelerator.parse(text, "resources.accelerators")
    assert parsed == expected
    assert Accelerator.parse(str(parsed), "x") == parsed


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("H100:0", "must be positive"),
        ("H100:-1", "must be positive"),
        ("H100:1.5", "fractional counts"),
        ("H100:x", "not a number"),
        ("H100:nan", "must be positive"),
        ("H100:inf", "must be positive"),
        (":8", "missing accelerator name"),
    ],
)
def test_accelerator_parse_errors(text: str, detail: str) -> None:
    with pytest.raises(SpecError) as caught:
        Accelerator.parse(text, "resources.accelerators")
    assert caught.value.path == "resources.accelerators"
    assert detail in caught.value.detail


@pytest.mark.parametrize("count", [True, False, None, [8]])
def test_accelerator_count_must_be_a_number(count: object) -> None:
    with pytest.raises(SpecError, match="not a number"):
        Accelerator.of("H100", count, "resources.accelerators.H100")
