"""The merged checkpoint: the adapter merged in fp32, saved in the base checkpoint's own dtype."""

import json

import pytest
import torch
from safetensors import safe_open

from aspo_repro.errors import UserError
from aspo_repro.training.merge import checkpoint_dtype, save_merged
from aspo_repro.training.model_source import resolve_model

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
FP16_ULP_AT_ONE = 2.0**-10


@pytest.fixture(scope="module")
def fp16_llava_dir(llava_dir, tmp_path_factory):
    """The tiny LLaVA stored as llava-hf stores LLaVA-1.5: fp16 weights, ``"dtype": "float16"``."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    directory = tmp_path_factory.mktemp("tiny-llava-fp16")
    AutoModelForImageTextToText.from_pretrained(llava_dir, dtype=torch.float16).save_pretrained(directory)
    AutoProcessor.from_pretrained(llava_dir).save_pretrained(directory)
    return directory


def save_random_adapter(base_dir, directory, seed=0):
    """A LoRA adapter on every linear layer of the language model with random (non-zero) A and B."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    torch.manual_seed(seed)
    base = AutoModelForImageTextToText.from_pretrained(base_dir, dtype=torch.float32)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS, init_lora_weights=False)
    get_peft_model(base, config).save_pretrained(directory)
    return directory


def inputs_for(processor):
    from PIL import Image

    prompt = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "describe the image ."}]}],
        add_generation_prompt=True,
    )
    image = Image.new("RGB", (20, 20), (200, 30, 30))
    return processor(images=[image], text=[prompt + " there is a red circle ."], return_tensors="pt")


def merged_and_adapted_logits(base_dir, tmp_path):
    """Logits of the merged checkpoint (loaded as stored, computed in fp32) and of the base in fp32
    with the adapter unmerged, and of the base alone; plus what ``save_merged`` reported."""
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText, AutoProcessor

    adapter = save_random_adapter(base_dir, tmp_path / "adapter")
    processor = AutoProcessor.from_pretrained(base_dir)
    record = save_merged(resolve_model(str(base_dir)), adapter, tmp_path / "merged")
    merged = AutoModelForImageTextToText.from_pretrained(tmp_path / "merged").eval()
    stored = merged.dtype
    merged = merged.float()
    adapted = PeftModel.from_pretrained(
        AutoModelForImageTextToText.from_pretrained(base_dir, dtype=torch.float32), adapter
    ).eval()
    inputs = inputs_for(processor)
    with torch.no_grad():
        logits = merged(**inputs).logits, adapted(**inputs).logits
        with adapted.disable_adapter():
            base_logits = adapted(**inputs).logits
    return (*logits, base_logits, stored, record)


def test_an_fp32_base_merges_into_fp32_logits_equal_to_base_plus_adapter(llava_dir, tmp_path):
    merged, adapted, base, stored, record = merged_and_adapted_logits(llava_dir, tmp_path)
    assert stored == torch.float32
    assert record == {"dtype": "float32", "base_dtype": "float32", "merged_in": "float32"}
    torch.testing.assert_close(merged, adapted, rtol=1e-5, atol=1e-6)
    assert (adapted - base).abs().max() > 100 * 1e-6  # the adapter changes the logits far beyond the tolerance


def test_an_fp16_base_merges_into_fp16_within_a_few_fp16_ulps(fp16_llava_dir, tmp_path):
    merged, adapted, base, stored, record = merged_and_adapted_logits(fp16_llava_dir, tmp_path)
    assert stored == torch.float16
    assert record == {"dtype": "float16", "base_dtype": "float16", "merged_in": "float32"}
    scale = adapted.abs().max().item()
    tolerance = 2 * FP16_ULP_AT_ONE * 2.0 ** torch.tensor(scale).log2().floor().item()  # 2 ulps at the logits' scale
    assert (merged - adapted).abs().max().item() <= tolerance
    assert (adapted - base).abs().max().item() > 10 * tolerance


def test_an_fp16_base_gives_an_fp16_checkpoint_config_and_tensors(fp16_llava_dir, tmp_path):
    from transformers import AutoProcessor

    adapter = save_random_adapter(fp16_llava_dir, tmp_path / "adapter")
    save_merged(resolve_model(str(fp16_llava_dir)), adapter, tmp_path / "merged")
    assert json.loads((tmp_path / "merged" / "config.json").read_text())["dtype"] == "float16"
    # the base's own processor: the evaluation, not training, decides how prompts and images are presented
    base_processor, merged_processor = (AutoProcessor.from_pretrained(d) for d in (fp16_llava_dir, tmp_path / "merged"))
    assert merged_processor.chat_template == base_processor.chat_template
    dtypes = set()
    for shard in (tmp_path / "merged").glob("*.safetensors"):
        with safe_open(shard, "pt") as weights:
            dtypes |= {weights.get_slice(name).get_dtype() for name in weights.keys()}
    assert dtypes == {"F16"}


@pytest.mark.parametrize(
    ("config", "dtype"),
    [({"dtype": "float16"}, "float16"), ({"torch_dtype": "bfloat16"}, "bfloat16"), ({}, "float32")],
)
def test_the_base_dtype_is_what_its_config_records(tmp_path, config, dtype):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llava", **config}))
    assert checkpoint_dtype(tmp_path) == dtype


def test_an_unknown_recorded_dtype_is_a_user_error(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llava", "dtype": "int8"}))
    with pytest.raises(UserError, match="dtype 'int8' is not one of float32, bfloat16, float16"):
        checkpoint_dtype(tmp_path)
