"""Load a base model and its processor by registry name or from a checkpoint directory.

- a **mini** registry name (``mini-llava-s`` ...) resolves to that model's directory in the
  built mini world (``world``, or the default full world, built or reused from the cache);
- a **paper** registry name (``llava-1.5-7b`` ...) resolves to its hub id; offline, a model
  not already in the local hub cache gives a :class:`UserError` that says so;
- an existing **directory** is loaded as it is (any ``save_pretrained`` checkpoint of an
  image-text-to-text model: a mini model, a trained adapter merged into one, a local copy).

Models load through ``AutoModelForImageTextToText`` and processors through ``AutoProcessor``,
the same code path for both profiles.
"""

from __future__ import annotations

import os
from pathlib import Path

from aspo_repro.errors import UserError, unknown_name
from aspo_repro.models.registry import get_model_spec, model_names

DTYPES = ("float32", "bfloat16", "float16")


def resolve_source(name_or_dir: str | os.PathLike, world=None) -> tuple[str, str | None]:
    """(what to pass to ``from_pretrained``, the registry name or None for a directory)."""
    text = str(name_or_dir)
    if text in model_names():
        spec = get_model_spec(text)
        if spec.profile == "mini":
            return str(_mini_world(world).model_dir(spec.name)), spec.name
        return spec.source, spec.name
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UserError(f"{path} is not a model checkpoint directory (no config.json)")
        return str(path), None
    if path.exists():
        raise UserError(f"{path} is a file; expected a registry name or a checkpoint directory")
    raise unknown_name("model", text, model_names())


def _mini_world(world):
    if world is not None:
        return world
    from aspo_repro.miniworld import obtain_world

    return obtain_world()


def _torch_dtype(dtype):
    import torch

    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise UserError(f"dtype must be one of {', '.join(DTYPES)}; got {dtype!r}")
    return getattr(torch, dtype)


def load_model_and_processor(name_or_dir: str | os.PathLike, *, dtype=None, device: str = "cpu", world=None):
    """(model in eval mode on ``device``, processor) for a registry name or a checkpoint directory."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    source, name = resolve_source(name_or_dir, world)
    torch_dtype = _torch_dtype(dtype)
    try:
        processor = AutoProcessor.from_pretrained(source)
        model = AutoModelForImageTextToText.from_pretrained(source, dtype=torch_dtype)
    except OSError as error:
        raise UserError(_load_failure(source, name, error)) from error
    if getattr(processor, "chat_template", None) is None:
        # InstructBlipProcessor does not keep a chat template of its own; its tokenizer has one.
        processor.chat_template = processor.tokenizer.chat_template
    if model.config.model_type == "instructblip":
        # InstructBLIP's generate() runs its language model with that model's own generation
        # config: give it the checkpoint's (end token, length) instead of the defaults.
        model.language_model.generation_config = model.generation_config
    return model.to(device).eval(), processor


def _load_failure(source: str, name: str | None, error: OSError) -> str:
    first = str(error).strip().splitlines()[0].rstrip(".") if str(error).strip() else type(error).__name__
    if name is not None and not Path(source).is_dir():
        return (f"cannot load model {name!r} from the hub ({source}): {first}. Without network access "
                "(HF_HUB_OFFLINE=1) a paper model must already be in the local Hugging Face cache; "
                "the mini models (" + ", ".join(model_names("mini")) + ") need no download.")
    return f"cannot load a model from {source}: {first}"
