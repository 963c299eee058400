import pytest

from aspo_repro import methods
from aspo_repro.errors import UserError
from aspo_repro.methods import Method, get_method, method_names, register


def test_registry_holds_the_papers_methods():
    assert method_names() == ["dpo", "aspo", "aspo-s", "aspo-p", "aspo-response", "aspo-token"]
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
    with pytest.raises(UserError, match="ASPO methods only"):
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
