"""Profile kinds: one registry the benchmark and model registries derive from, and answers that agree
with what those registries hold."""

import pytest

from aspo_repro.errors import UserError
from aspo_repro.evaluation import benchmarks
from aspo_repro.models import all_models, get_model_spec, registry
from aspo_repro.profile_kinds import PROFILE_KINDS, PROFILES, get_profile_kind, published_profile


def _benchmarks_of(kind):
    return [b for b in benchmarks.REGISTRY.values() if b.profile == kind.name]


def test_the_registries_take_their_profiles_from_the_profile_kinds():
    assert benchmarks.PROFILES == registry.PROFILES == tuple(PROFILE_KINDS) == PROFILES
    assert all(b.profile_kind is PROFILE_KINDS[b.profile] for b in benchmarks.REGISTRY.values())
    assert all(spec.profile_kind is PROFILE_KINDS[spec.profile] for spec in all_models())


def test_an_unknown_profile_is_a_user_error_listing_the_kinds():
    with pytest.raises(UserError, match="unknown profile 'tiny'; known profiles: mini, paper"):
        get_profile_kind("tiny")


@pytest.mark.parametrize("kind", PROFILE_KINDS.values(), ids=PROFILE_KINDS)
def test_a_kind_that_builds_a_world_reads_every_benchmark_and_model_from_it(kind):
    assert all((b.data_file is not None) == kind.builds_world for b in _benchmarks_of(kind))
    models = [spec for spec in all_models() if spec.profile_kind is kind]
    assert models and all((spec.source == spec.name) == kind.builds_world for spec in models)


@pytest.mark.parametrize("kind", PROFILE_KINDS.values(), ids=PROFILE_KINDS)
def test_a_kind_has_an_exact_judge_where_its_benchmarks_are_judged_by_rule(kind):
    judges = {b.judge for b in _benchmarks_of(kind)}
    assert ("rule" in judges) == kind.has_exact_judge
    assert not (kind.has_exact_judge and judges & {"gpt", "rules+gpt"})


@pytest.mark.parametrize("kind", PROFILE_KINDS.values(), ids=PROFILE_KINDS)
def test_a_kind_uses_lmms_eval_tasks_where_a_benchmark_is_not_the_projects_own(kind):
    assert any(not b.own_task for b in _benchmarks_of(kind)) == kind.uses_lmms_eval_tasks


@pytest.mark.parametrize("kind", PROFILE_KINDS.values(), ids=PROFILE_KINDS)
def test_a_published_kind_stands_for_nothing_and_the_others_stand_for_it(kind):
    analogues = [b.analogue_of for b in _benchmarks_of(kind) if b.analogue_of]
    analogues += [spec.analogue_of for spec in all_models() if spec.profile_kind is kind and spec.analogue_of]
    if kind.published:
        assert not analogues
    else:
        assert analogues
        for name in analogues:
            owner = benchmarks.REGISTRY[name] if name in benchmarks.REGISTRY else get_model_spec(name)
            assert owner.profile_kind is published_profile()
