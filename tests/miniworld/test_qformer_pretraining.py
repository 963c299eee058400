"""mini-InstructBLIP's Q-Former pretraining: its labels, what it trains, that it learns, and the world's use of it."""

import dataclasses
import json

import pytest

from aspo_repro.miniworld import graded, lexicon
from aspo_repro.miniworld.config import TINY, TINY_PRETRAINING, QformerPretraining, world_config
from aspo_repro.miniworld.qformer_pretraining import CONTENTS, cell_labels, pretrain_qformer
from aspo_repro.miniworld.scene import Scene, WorldObject


def test_labels_name_each_cell_row_by_row():
    scene = Scene("s", (WorldObject("circle", "red", "small", 0, 0), WorldObject("star", "blue", "large", 1, 2)))
    labels = cell_labels([scene])[0].tolist()
    assert len(labels) == len(lexicon.CELLS) == 9
    assert labels[0] == CONTENTS.index("circle")
    assert labels[lexicon.CELLS.index((1, 2))] == CONTENTS.index("star") and labels[5] == CONTENTS.index("star")
    assert labels.count(0) == 7  # every other cell empty


@pytest.fixture(scope="module")
def tiny_instructblip():
    from aspo_repro.models.builders import build_model_and_processor

    recipe = TINY.recipe("mini-instructblip")
    return build_model_and_processor(recipe.family, recipe.size, image=TINY.data.image, seed=3)


def parameters(module) -> dict:
    return {name: value.detach().clone() for name, value in module.named_parameters()}


def test_it_trains_the_q_former_and_its_queries_only_and_learns_the_cells(tiny_instructblip):
    import torch

    model, processor = tiny_instructblip
    before = {part: parameters(getattr(model, part)) for part in ("vision_model", "language_model",
                                                                  "language_projection", "qformer")}
    # few scenes and many steps: the scenes trained on are learnt by heart, which a wrong label order,
    # a head cut off from the Q-Former or a frozen Q-Former would not allow
    pretraining = QformerPretraining(scenes=32, steps=300, batch_size=16, held_out=32)
    record = pretrain_qformer(model, processor, pretraining, TINY.data, world_seed=0, seed=3, progress=False)
    assert record["trained_on"] > 0.9 > record["always_empty"] + 0.1
    assert 0.0 <= record["held_out"] <= 1.0 and sorted(record["by_step"]) == [300]
    assert record["by_step"][300] == {"held_out": record["held_out"], "trained_on": record["trained_on"]}
    after = {part: parameters(getattr(model, part)) for part in before}
    for part in ("vision_model", "language_model", "language_projection"):
        assert all(torch.equal(before[part][name], after[part][name]) for name in before[part]), part
    assert any(not torch.equal(before["qformer"][name], after["qformer"][name]) for name in before["qformer"])
    assert model.query_tokens.abs().sum() > 0  # transformers builds them as zeros; BLIP-2 draws them


def test_it_is_the_same_for_the_same_seed_and_measured_as_it_goes(monkeypatch):
    from aspo_repro.miniworld import qformer_pretraining
    from aspo_repro.models.builders import build_model_and_processor

    monkeypatch.setattr(qformer_pretraining, "CHECK_EVERY", 3)
    recipe = TINY.recipe("mini-instructblip")
    pretraining = QformerPretraining(scenes=8, steps=7, batch_size=2, held_out=4)
    records = []
    for _ in range(2):
        model, processor = build_model_and_processor(recipe.family, recipe.size, image=TINY.data.image, seed=5)
        records.append(pretrain_qformer(model, processor, pretraining, TINY.data, 0, 5, progress=False))
    assert records[0] == records[1] and sorted(records[0]["by_step"]) == [3, 6, 7]


def test_only_instructblip_is_pretrained_and_the_tiny_world_at_its_tiny_size():
    full = world_config("full")
    assert [r.name for r in full.models if r.qformer_pretraining] == ["mini-instructblip"]
    assert full.recipe("mini-instructblip").qformer_pretraining.scenes >= 10_000
    assert TINY.recipe("mini-instructblip").qformer_pretraining == TINY_PRETRAINING
    assert TINY.recipe("mini-llava-s").qformer_pretraining is None


def test_the_world_records_the_pretraining_and_graded_models_share_it(tiny_world):
    def record(directory):
        return json.loads((directory / "build_record.json").read_text())

    built = record(tiny_world.model_dir("mini-instructblip"))
    pretrained = built["record"]["qformer_pretraining"]
    assert pretrained["scenes"] == TINY_PRETRAINING.scenes and 0.0 <= pretrained["held_out"] <= 1.0
    assert built["inputs"]["recipe"]["qformer_pretraining"] == dataclasses.asdict(TINY_PRETRAINING)
    assert record(tiny_world.model_dir("mini-llava-s"))["record"]["qformer_pretraining"] is None
    assert graded.graded_recipe(tiny_world, "mini-instructblip-sft50").qformer_pretraining == TINY_PRETRAINING
