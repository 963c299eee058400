"""The evaluation checkpoint: the base model with the trained LoRA adapter merged into its weights.

The base model is loaded afresh, in fp32 whatever the training precision, and the saved adapter
applied to it with PEFT, so the merged directory is built from exactly what ``OUT/adapter`` holds;
it loads with ``from_pretrained`` (model and processor) like any checkpoint, without PEFT.

The merged weights are saved in the base checkpoint's own dtype (what its ``config.json``
records), so a trained model is evaluated in the precision its base is. The merge itself runs in
fp32: a preference update at the paper's learning rate moves a weight by about one bf16 rounding
step, and merging in bf16 rounds a sixth to over half of it away (``docs/merge-precision.md``).
"""

from __future__ import annotations

from pathlib import Path

from aspo_repro.errors import UserError
from aspo_repro.files import read_json_object
from aspo_repro.models.loading import DTYPES, recorded_dtype
from aspo_repro.training.model_source import ModelChoice

MERGE_DTYPE = "float32"


def save_merged(choice: ModelChoice, adapter_dir: Path, target: Path) -> dict[str, str]:
    """Merge ``adapter_dir`` into ``choice``'s base in fp32, save it to ``target`` in the base's
    dtype with the base's own processor; returns what ``run.json`` records of it (``dtype``,
    ``base_dtype``, ``merged_in``). The processor is the checkpoint's, not the one training set up
    under an evaluation protocol: the evaluation applies its protocol to base and trained rows alike."""
    import torch
    from peft import PeftModel

    from aspo_repro.models.loading import load_model_and_processor, resolve_source

    _leave_deepspeed_zero3()
    base_dtype = checkpoint_dtype(Path(resolve_source(choice.directory or choice.name)[0]))
    base, processor = load_model_and_processor(choice.directory or choice.name, dtype=MERGE_DTYPE)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    merged = merged.to(getattr(torch, base_dtype))
    pad_token_id = processor.tokenizer.pad_token_id
    merged.config.get_text_config().pad_token_id = pad_token_id
    merged.generation_config.pad_token_id = pad_token_id
    merged.save_pretrained(str(target))
    processor.save_pretrained(str(target))
    return {"dtype": str(merged.dtype).removeprefix("torch."), "base_dtype": base_dtype, "merged_in": MERGE_DTYPE}


def checkpoint_dtype(checkpoint: Path) -> str:
    """The dtype ``checkpoint``'s weights are stored in, as its ``config.json`` records it
    (``dtype``; ``torch_dtype`` before transformers 4.56); float32 when it records none."""
    recorded = recorded_dtype(read_json_object(checkpoint / "config.json", "model config"))
    if recorded not in DTYPES:
        raise UserError(
            f"{checkpoint / 'config.json'}: dtype {recorded!r} is not one of {', '.join(DTYPES)}"
        )
    return recorded


def _leave_deepspeed_zero3() -> None:
    """Under ZeRO-3, from_pretrained would shard the model again; the merge runs on one process."""
    from transformers.integrations import is_deepspeed_zero3_enabled

    if is_deepspeed_zero3_enabled():
        from transformers.integrations.deepspeed import unset_hf_deepspeed_config

        unset_hf_deepspeed_config()
