"""Kinds answer for themselves: no code outside a registry compares a kind's name.

A model family (``models/families.py``) and a profile kind (``profile_kinds.py``) are asked what
they mean (``spec.family_spec.packs_pairs``, ``get_profile_kind(profile).builds_world``); a
comparison such as ``family == "llava"``, ``profile != "mini"`` or ``model_type == "instructblip"``
elsewhere is a fact stated twice.
"""

import re
from pathlib import Path

import aspo_repro

PACKAGE = Path(aspo_repro.__file__).parent
KIND = r"[\w.]*(?:family|profile|model_type)"  # a checkpoint's model_type names its family
NAME = r"[\"'][\w-]+[\"']"
FAMILY_OR_PROFILE_COMPARISON = re.compile(
    rf"\b{KIND}\s*(?:==|!=)\s*{NAME}"  # family == "llava", spec.profile != "mini"
    rf"|{NAME}\s*(?:==|!=)\s*{KIND}\b"  # "mini" == profile
    rf"|\b{KIND}\s+(?:not\s+)?in\s+[(\[{{]\s*{NAME}"  # profile in ("paper", ...)
)
# The modules that define the names: the only places they may be compared.
REGISTRIES = {"profile_kinds.py", "models/families.py"}


def comparisons(pattern: re.Pattern, exempt: set[str]) -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative in exempt:
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if pattern.search(line.split("#", 1)[0]):
                found.append(f"aspo_repro/{relative}:{number}: {line.strip()}")
    return found


def test_the_pattern_finds_the_comparisons_it_is_meant_to():
    caught = ['if family == "llava":', "x = spec.profile != 'mini'", 'if "paper" == profile:',
              'if settings.profile in ("paper", "mini"):', 'if model.config.model_type == "instructblip":']
    passed = ['if family_spec.packs_pairs:', 'profile = "mini"', 'family=family == other']
    assert all(FAMILY_OR_PROFILE_COMPARISON.search(line) for line in caught)
    assert not any(FAMILY_OR_PROFILE_COMPARISON.search(line) for line in passed)


def test_no_family_or_profile_name_is_compared_outside_its_registry():
    found = comparisons(FAMILY_OR_PROFILE_COMPARISON, REGISTRIES)
    assert not found, "ask the family or profile kind instead:\n" + "\n".join(found)
