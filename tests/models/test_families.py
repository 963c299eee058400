"""Model families: every registered model names one, and each family's answers match the models
and processors built for it."""

import pytest

from aspo_repro.errors import UserError
from aspo_repro.models import all_models
from aspo_repro.models.builders import build_model_and_processor
from aspo_repro.models.families import FAMILIES, FAMILY_REGISTRY, family_of_model_type, get_family
from aspo_repro.rehearsal.checkpoints import PAPER_CONFIG_DIR


def test_every_model_names_a_registered_family():
    assert {spec.family_spec.name for spec in all_models()} == set(FAMILIES)


def test_an_unknown_family_is_a_user_error_listing_the_families():
    with pytest.raises(UserError, match="unknown model family 'bert'; known model families: instructblip, llava"):
        get_family("bert")
    with pytest.raises(UserError, match="unknown model family"):
        build_model_and_processor("bert")


def test_a_family_is_found_by_its_checkpoints_model_type():
    for family in FAMILY_REGISTRY.values():
        assert family_of_model_type(family.model_type) is family
    assert family_of_model_type("bert") is None


@pytest.mark.parametrize("family", FAMILY_REGISTRY.values(), ids=FAMILIES)
def test_a_built_model_answers_as_its_family_says(family):
    model, processor = build_model_and_processor(family.name, family.tiny_size)
    assert family_of_model_type(model.config.model_type) is family
    assert ("<image>" in processor.tokenizer.chat_template) == family.image_in_prompt
    assert hasattr(processor, "qformer_tokenizer") == family.has_qformer


def test_every_paper_model_config_is_of_a_registered_family():
    import json

    for path in sorted(PAPER_CONFIG_DIR.glob("*.json")):
        assert family_of_model_type(json.loads(path.read_text())["model_type"]) is not None, path.name


def test_each_family_counts_its_paper_checkpoints_parameters():
    """The memory plan asks a checkpoint's family to count its parameters from its config.json."""
    import json

    for path in sorted(PAPER_CONFIG_DIR.glob("*.json")):
        config = json.loads(path.read_text())
        counts = family_of_model_type(config["model_type"]).count_parameters(config)
        assert set(counts) == {"vision", "connector", "language"} and min(counts.values()) > 0, path.name


def test_each_family_names_the_lmms_eval_adapter_of_its_paper_checkpoints():
    from aspo_repro.evaluation.instructblip_adapter import MODEL_ID

    assert {family.name: family.lmms_adapter for family in FAMILY_REGISTRY.values()} == {
        "llava": "llava_hf", "instructblip": MODEL_ID}


@pytest.mark.parametrize("family", FAMILY_REGISTRY.values(), ids=FAMILIES)
def test_every_family_does_what_only_its_code_does(family):
    """A family's own functions build its toy model, find its vision tower and fill it exactly."""
    from aspo_repro.models.vision_init import load_vision_tower

    for field in ("build_untrained", "vision_tower", "vision_state", "standin_processor"):
        assert callable(getattr(family, field)), f"{family.name}: {field}"
    model, _ = build_model_and_processor(family.name, family.tiny_size)
    tower = family.vision_tower(model)
    assert tower is not None and all(not name.startswith("language_model") for name, _ in tower.named_parameters())
    with pytest.raises(KeyError):  # its weight conversion reads an open_clip ViT, not any state dict
        load_vision_tower(model, family, {})
