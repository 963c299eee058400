"""The two kinds of profile, ``paper`` and ``mini``, and what each one means for the code.

A benchmark, a model and a result belong to one profile kind. Code asks the kind a question
(``get_profile_kind(spec.profile).builds_world``) instead of comparing its name; this module is the
only place the names are spelled.
"""

from __future__ import annotations

from dataclasses import dataclass

from aspo_repro.errors import unknown_name


@dataclass(frozen=True)
class ProfileKind:
    name: str
    # Its models and benchmarks live in a generated world (``miniworld``), built where they are needed.
    builds_world: bool
    # An exact judge knows every sentence's truth: preference data can be diagnosed against it, and
    # its scoring is local (no network to wait on).
    has_exact_judge: bool
    # Its benchmarks and models are the paper's own: table cells are read against the published
    # numbers, not against the profile's own base model.
    published: bool
    # Its benchmarks include lmms-eval's own tasks, not only the project's.
    uses_lmms_eval_tasks: bool
    # A bare model directory of a family trains with this kind's registered recipe for that family
    # (the first kind that has one).
    lends_recipe_to_directories: bool
    # Its checkpoints answer through the project's own lmms-eval adapter (``aspo_hf``: the world's
    # prompt format), not lmms-eval's adapter for their architecture.
    evaluated_by_own_adapter: bool


PROFILE_KINDS: dict[str, ProfileKind] = {
    kind.name: kind
    for kind in (
        ProfileKind("paper", builds_world=False, has_exact_judge=False, published=True,
                    uses_lmms_eval_tasks=True, lends_recipe_to_directories=False,
                    evaluated_by_own_adapter=False),
        ProfileKind("mini", builds_world=True, has_exact_judge=True, published=False,
                    uses_lmms_eval_tasks=False, lends_recipe_to_directories=True,
                    evaluated_by_own_adapter=True),
    )
}

PROFILES = tuple(PROFILE_KINDS)


def get_profile_kind(name: str) -> ProfileKind:
    """The profile kind called ``name``; a ``UserError`` listing the kinds for any other name."""
    if name not in PROFILE_KINDS:
        raise unknown_name("profile", name, PROFILES)
    return PROFILE_KINDS[name]


def published_profile() -> ProfileKind:
    """The kind the paper's own numbers belong to: what a mini model or benchmark stands for."""
    (kind,) = (kind for kind in PROFILE_KINDS.values() if kind.published)
    return kind
