import pytest

from aspo_repro import methods
from aspo_repro.errors import UserError
from aspo_repro.methods import Method, get_method, method_names, register


def test_registry_holds_the_papers_methods():
    assert method_names() == ["dpo", "aspo", "aspo-s", "aspo-p", "aspo-response", "aspo-token", "aspo-oracle"]
    oracle = get_method("aspo-oracle")  # the mini world's upper bound: the judge's verdicts as weights
    assert oracle.uses_judge and oracle.alpha == 1.0 and not oracle.uses_perplexity
    assert not get_method("aspo-s").uses_judge and get_method("aspo-s").scorer == "clip"
    assert get_method("aspo").alpha == 0.5 and get_method("aspo").granularity == "sentence"
    assert get_method("aspo-s").alpha == 1.0 and not get_method("aspo-s").uses_perplexity
    assert get_method("aspo-p").alpha == 0.0 and not get_method("aspo-p").uses_similarity
    assert get_method("aspo-response").granularity == "response"
    assert get_method("aspo-token").granularity == "token"
    assert get_method("dpo").loss == "dpo" and get_method("dpo").alpha is None


def test_unknown_method_lists_the_known_ones():
    with pytest.raises(UserError) as error:
        get_method("ipo")
    assert "unknown method 'ipo'" in str(error.value)
    for name in method_names():
        assert name in str(error.value)


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan")])
def test_alpha_outside_unit_interval_is_refused(alpha):
    with pytest.raises(UserError, match=r"alpha must lie in \[0, 1\]"):
        get_method("aspo", alpha=alpha)


def test_overrides_make_a_named_variant():
    variant = get_method("aspo", alpha=0.25)
    assert variant.alpha == 0.25 and variant.name == "aspo[alpha=0.25]"
    assert get_method("aspo", alpha=0.5) is get_method("aspo")  # no change, no new name
    with pytest.raises(UserError, match="method 'dpo' does not read alpha"):
        get_method("dpo", alpha=0.5)
    with pytest.raises(UserError, match="norm must be one of"):
        get_method("aspo", norm="softmax")


def test_a_new_variant_is_one_entry(monkeypatch):
    monkeypatch.setattr(methods, "_REGISTRY", dict(methods._REGISTRY))
    method = Method("aspo-test-variant", "aspo", "for this test", granularity="sentence", alpha=0.3, norm="weight_mean")
    register(method)
    assert get_method("aspo-test-variant") is method
    with pytest.raises(ValueError, match="already registered"):
        register(method)


def test_methods_answer_what_the_training_core_asks():
    dpo, aspo, response, aspo_p = (get_method(n) for n in ("dpo", "aspo", "aspo-response", "aspo-p"))
    assert not dpo.uses_units and dpo.unit is None and not dpo.logs_unit_weights and dpo.aspo_options is None
    assert aspo.uses_units and aspo.units_within_response and aspo.logs_unit_weights
    assert aspo.unit.stored_in_data and not get_method("aspo-token").unit.stored_in_data
    assert response.uses_units and not response.units_within_response
    assert aspo.aspo_options == methods.AspoOptions(alpha=0.5, granularity="sentence")
    assert not aspo_p.uses_similarity and aspo_p.uses_perplexity
    assert dpo.takes("beta") and not dpo.takes("norm") and aspo.takes("norm")


def test_every_loss_kind_has_a_loss_function():
    from aspo_repro.losses.dispatch import LOSS_FUNCTIONS

    assert set(LOSS_FUNCTIONS) == set(methods.LOSS_KINDS)


def test_a_new_loss_family_is_one_kind_and_one_function(monkeypatch):
    """IPO (Azar et al.): (margin / beta - 1 / (2 beta))^2, with no unit weights; nothing else changes."""
    import torch

    from aspo_repro.cli.methods_cmd import format_table
    from aspo_repro.losses import LossOutput, ResponseLogps, preference_loss
    from aspo_repro.losses.dispatch import LOSS_FUNCTIONS

    def ipo(method, chosen, rejected, **_unused):
        margins = chosen.scaled_log_ratios(method.beta).sum(-1) - rejected.scaled_log_ratios(method.beta).sum(-1)
        losses = (margins / method.beta - 1 / (2 * method.beta)) ** 2
        return LossOutput(loss=losses.mean(), losses=losses.detach(), margins=margins.detach(),
                          chosen_rewards=margins.detach(), rejected_rewards=margins.detach() * 0)

    monkeypatch.setitem(methods.LOSS_KINDS, "ipo", methods.LossKind("ipo", (), uses_units=False, logs_unit_weights=False))
    monkeypatch.setattr(methods, "LOSSES", tuple(methods.LOSS_KINDS))
    monkeypatch.setitem(LOSS_FUNCTIONS, "ipo", ipo)
    monkeypatch.setattr(methods, "_REGISTRY", dict(methods._REGISTRY))
    method = register(Method("ipo", "ipo", "IPO, for this test"))
    assert not method.uses_units and not method.uses_similarity and method.aspo_options is None
    side = ResponseLogps(policy=torch.tensor([[-1.0, -2.0]]), reference=torch.tensor([[-1.5, -2.0]]),
                         mask=torch.ones(1, 2, dtype=torch.bool))
    output = preference_loss(method, side, ResponseLogps(side.reference, side.policy, side.mask))
    assert output.loss.item() == pytest.approx((0.1 / 0.1 - 5.0) ** 2)  # margin 0.1 = 2 x beta x 0.5
    assert format_table([method]).splitlines()[1].split()[:5] == ["ipo", "ipo", "response", "-", "-"]


def test_a_method_that_names_no_granularity_or_alpha_has_its_loss_kinds():
    plain = Method("aspo-default-test", "aspo", "for this test")
    assert plain.granularity == "sentence" and plain.aspo_options == methods.AspoOptions()
    assert plain.alpha == methods.AspoOptions.alpha  # ASPO's defaults are stated once, in AspoOptions
    assert get_method("dpo").granularity == "response"  # recorded in every DPO run's identity (run.json)
    assert get_method("dpo").alpha is None  # a loss that takes no alpha gets none


def test_an_option_no_method_takes_is_refused_with_the_allowed_ones():
    with pytest.raises(UserError, match="unknown method option.*description.*allowed: granularity, alpha"):
        get_method("aspo", description="renamed")


def test_the_judge_scores_sentences_only_and_the_learning_rate_is_an_option_of_every_method():
    with pytest.raises(UserError, match="scorer=judge needs granularity sentence and alpha 1"):
        get_method("aspo", scorer="judge")
    with pytest.raises(UserError, match="scorer must be one of clip, judge"):
        get_method("aspo-s", scorer="gpt")
    swept = get_method("dpo", learning_rate=5e-05)
    assert swept.name == "dpo[learning_rate=5e-05]" and swept.learning_rate == 5e-05 and swept.takes("learning_rate")
    with pytest.raises(UserError, match="learning_rate must be a positive number"):
        get_method("dpo", learning_rate=-1.0)


def test_verdict_flip_is_a_share_of_the_judges_verdicts_only():
    from aspo_repro.results import resolve_method

    method = get_method("aspo-oracle", verdict_flip=0.3)
    assert method.name == "aspo-oracle[verdict_flip=0.3]" and method.verdict_flip == 0.3
    assert resolve_method("aspo-oracle[verdict_flip=0.3]") == method
    with pytest.raises(UserError, match="verdict_flip flips the judge's verdicts: it needs scorer=judge"):
        get_method("aspo-s", verdict_flip=0.3)
    with pytest.raises(UserError, match=r"verdict_flip must lie in \[0, 1\]"):
        get_method("aspo-oracle", verdict_flip=1.5)


def test_an_option_the_method_does_not_read_is_refused_by_name():
    with pytest.raises(UserError, match="method 'dpo' does not read norm"):
        get_method("dpo", norm="none")
    assert get_method("dpo", learning_rate=2e-5).name == "dpo[learning_rate=2e-05]"
