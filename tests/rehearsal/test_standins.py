"""The rehearsal's stand-ins: the paper models' own configs shrunk, resolved from a hub cache the
way a downloaded snapshot is; LLaVA-Instruct-format data; the paper CLIP's architecture shrunk."""

from __future__ import annotations

import json

import pytest

from aspo_repro.errors import UserError
from aspo_repro.models.loading import HubCache, load_model_and_processor
from aspo_repro.models.prompting import generate_answers
from aspo_repro.rehearsal import checkpoints, instructions, standin_processors
from aspo_repro.rehearsal.clip import write_clip_standin

TINY = checkpoints.Shrink(layers=1, text_hidden=32, text_heads=2, text_intermediate=64, vision_hidden=16,
                          vision_heads=2, vision_intermediate=32, qformer_hidden=16, qformer_heads=2,
                          qformer_intermediate=32, vocab_size=300)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("instructions")
    return instructions.write_instruction_data(root / "llava_instruct.json", root / "images", 6, seed=1)


def test_instruction_data_has_llava_instructs_records_and_coco_jpegs(data):
    from PIL import Image

    json_path, image_dir = data
    records = json.loads(json_path.read_text())
    assert len(records) == 6
    for record in records:
        assert set(record) == {"id", "image", "conversations"}
        human, gpt = record["conversations"]
        assert human["from"] == "human" and human["value"].startswith("<image>\n")
        assert gpt["from"] == "gpt" and gpt["value"]
        with Image.open(image_dir / record["image"]) as photo:
            assert (photo.format, photo.size, photo.mode) == ("JPEG", (640, 480), "RGB")
        assert len(record["image"]) == len("000000100000.jpg")


@pytest.mark.parametrize("model", ["llava-1.5-7b", "instructblip-13b"])
def test_a_stand_in_resolves_from_the_hub_cache_and_keeps_the_paper_config(tmp_path, data, model):
    corpus = instructions.corpus(data[0])
    hub = tmp_path / "hub"
    with pytest.raises(UserError, match=f"paper model '{model}'.* is not in {hub}"):
        HubCache(hub).model_dir(model)
    snapshot = checkpoints.write_standins(hub, [model], corpus, TINY, log=lambda *_: None)[model]
    assert HubCache(hub).model_dir(model) == snapshot  # through huggingface_hub, offline
    paper = checkpoints.paper_config(model)
    network, processor = load_model_and_processor(model, world=HubCache(hub))
    config = network.config
    assert config.text_config.num_hidden_layers == 1 and config.text_config.hidden_size == 32
    assert config.vision_config.image_size == paper["vision_config"]["image_size"]
    assert config.vision_config.patch_size == paper["vision_config"]["patch_size"]
    if paper["model_type"] == "llava":
        assert config.vision_feature_layer == paper["vision_feature_layer"]
        assert processor.image_processor.crop_size == {"height": 336, "width": 336}
        assert list(processor.image_processor.image_mean) == standin_processors.OPENAI_CLIP_MEAN
        assert "ASSISTANT:" in processor.chat_template
    else:
        assert config.num_query_tokens == paper["num_query_tokens"]
        assert config.qformer_config.cross_attention_frequency == paper["qformer_config"]["cross_attention_frequency"]
    from PIL import Image

    with Image.open(data[1] / json.loads(data[0].read_text())[0]["image"]) as photo:
        answers = generate_answers(network, processor, [photo.convert("RGB")], ["What is in the image?"],
                                   max_new_tokens=4)
    assert len(answers) == 1 and isinstance(answers[0], str)
    again = checkpoints.write_standins(hub, [model], corpus, TINY, log=lambda *_: None)[model]
    assert again == snapshot  # reused, not rebuilt


def test_the_clip_stand_in_is_the_paper_architecture_shrunk(tmp_path, data):
    from aspo_repro.clip_scorer import ClipScorer

    directory = write_clip_standin(tmp_path / "clip")
    config = json.loads((directory / "open_clip_config.json").read_text())
    assert config["model_cfg"]["vision_cfg"]["image_size"] == 336 and config["model_cfg"]["vision_cfg"]["patch_size"] == 14
    assert config["model_cfg"]["text_cfg"]["vocab_size"] == 49408  # OpenAI CLIP's tokenizer
    images = sorted(data[1].glob("*.jpg"))[:2]
    scores = ClipScorer.from_dir(directory, use_disk_cache=False).score(images, ["a red car", "a dog"])
    assert scores.shape == (2,) and bool(((scores >= -1) & (scores <= 1)).all())
