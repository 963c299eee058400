"""The evaluation checkpoint: the base model with the trained LoRA adapter merged into its weights.

The base model is loaded afresh and the saved adapter applied to it with PEFT, so the merged
directory is built from exactly what ``OUT/adapter`` holds; it loads with ``from_pretrained``
(model and processor) like any checkpoint, without PEFT.
"""

from __future__ import annotations

from pathlib import Path

from aspo_repro.training.model_source import ModelChoice, load_model_and_processor


def save_merged(
    choice: ModelChoice, adapter_dir: Path, processor, target: Path, precision: str = "fp32"
) -> None:
    from peft import PeftModel

    _leave_deepspeed_zero3()
    base, _ = load_model_and_processor(choice, precision)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    pad_token_id = processor.tokenizer.pad_token_id
    merged.config.get_text_config().pad_token_id = pad_token_id
    merged.generation_config.pad_token_id = pad_token_id
    merged.save_pretrained(str(target))
    processor.save_pretrained(str(target))


def _leave_deepspeed_zero3() -> None:
    """Under ZeRO-3, from_pretrained would shard the model again; the merge runs on one process."""
    from transformers.integrations import is_deepspeed_zero3_enabled

    if is_deepspeed_zero3_enabled():
        from transformers.integrations.deepspeed import unset_hf_deepspeed_config

        unset_hf_deepspeed_config()
