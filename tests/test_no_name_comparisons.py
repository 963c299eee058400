"""Kinds answer for themselves: no code outside a registry compares a kind's name.

A model family (``models/families.py``) and a profile kind (``profile_kinds.py``) are asked what
they mean (``spec.family_spec.packs_pairs``, ``get_profile_kind(profile).builds_world``); a
comparison such as ``family == "llava"``, ``profile != "mini"`` or ``model_type == "instructblip"``
elsewhere is a fact stated twice.
"""

import re
from pathlib import Path

import aspo_repro
from aspo_repro.models import families
from aspo_repro.models.families import FAMILY_REGISTRY, ModelFamily

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
# A table keyed by a family's name or its checkpoints' model_type ({"llava": ...}, {LLAVA.name: ...}),
# or a collection of such names (pad_to_square=("llava",)): a fact about the family stated away from it.
FAMILY_NAMES = sorted({name for family in FAMILY_REGISTRY.values() for name in (family.name, family.model_type)})
QUOTED_FAMILY = rf"[\"'](?:{'|'.join(map(re.escape, FAMILY_NAMES))})[\"']"
FAMILY_CONSTANTS = sorted(name for name, value in vars(families).items() if isinstance(value, ModelFamily))
NAMED_FAMILY = rf"\b(?:{'|'.join(FAMILY_CONSTANTS)})\.(?:name|model_type)"
FAMILY_TABLE = re.compile(rf"(?:{QUOTED_FAMILY}|{NAMED_FAMILY})\s*:"
                          rf"|(?:[=:]|\bin)\s*[(\[{{]\s*{QUOTED_FAMILY}\s*[,)\]}}]")


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


def test_the_table_pattern_finds_tables_keyed_by_a_family():
    caught = ['PAPER_ADAPTERS = {"llava": "llava_hf", "instructblip": "instructblip_new_tokens"}',
              "COUNTERS = {'instructblip': instructblip_parameters}", 'pad_to_square=("llava",)',
              'if name in ["llava", "instructblip"]:', 'TINY_SIZES = {LLAVA.name: TINY_LLAVA}',
              "    INSTRUCTBLIP.name: instructblip_processor,"]
    passed = ['"mini-llava-s", "llava", "mini", "mini-llava-s",', 'name="llava",', '{"llava-1.5-7b": 1}',
              'family = LLAVA.name', 'spec.name: spec for spec in specs']
    assert all(FAMILY_TABLE.search(line) for line in caught)
    assert not any(FAMILY_TABLE.search(line) for line in passed)


def test_no_table_is_keyed_by_a_family_outside_its_registry():
    """Ask the family (``family.count_parameters(config)``, ``family.lmms_adapter``) instead."""
    found = comparisons(FAMILY_TABLE, {"models/families.py"})
    assert not found, "ask the model family instead:\n" + "\n".join(found)
