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
from dataclasses import dataclass
from pathlib import Path

from aspo_repro.errors import UserError, unknown_name
from aspo_repro.models.families import family_of_model_type
from aspo_repro.models.registry import get_model_spec, is_model_name, model_names

# A profile's precisions (fp32, bf16, fp16) and the torch dtypes they name.
PRECISIONS = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
DTYPES = tuple(PRECISIONS.values())


def precision_dtype(precision: str | None) -> str | None:
    """The torch dtype name of a profile's precision (``fp16`` -> ``float16``); None stays None."""
    if precision is None:
        return None
    if precision not in PRECISIONS:
        raise UserError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    return PRECISIONS[precision]


def recorded_dtype(config: dict) -> str:
    """The dtype a checkpoint's ``config.json`` records for its weights (``dtype``; ``torch_dtype``
    before transformers 4.56), which ``from_pretrained(dtype="auto")`` loads; float32 when none."""
    return config.get("dtype") or config.get("torch_dtype") or "float32"


# What a paper checkpoint's snapshot needs (the hub repositories also hold .bin copies of the weights).
CHECKPOINT_FILES = ("*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken")


def paper_checkpoint(name: str, hub_cache: str | os.PathLike | None = None) -> Path:
    """The local snapshot of a paper model's hub checkpoint in ``hub_cache`` (None: the default
    Hugging Face cache), downloaded first unless offline (``HF_HUB_OFFLINE=1``)."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    source = get_model_spec(name).source
    where = f" in {hub_cache}" if hub_cache else " in the local Hugging Face cache"
    try:
        return Path(snapshot_download(source, cache_dir=hub_cache, local_files_only=constants.HF_HUB_OFFLINE,
                                      allow_patterns=list(CHECKPOINT_FILES)))
    except (LocalEntryNotFoundError, OSError, ValueError) as error:
        offline = " and HF_HUB_OFFLINE=1 forbids downloading it" if constants.HF_HUB_OFFLINE else ""
        raise UserError(f"paper model {name!r} ({source}) is not{where}{offline} ({type(error).__name__}); on a "
                        f"machine with network access run `huggingface-cli download {source}` first") from None


@dataclass(frozen=True)
class HubCache:
    """Where the paper models' checkpoints resolve: hub snapshots in ``path`` (None: the default cache).
    The paper profile's counterpart of a mini world: both answer ``model_dir(name)``."""

    path: Path | None = None

    def model_dir(self, name: str) -> Path:
        return paper_checkpoint(name, self.path)


def resolve_source(name_or_dir: str | os.PathLike, world=None) -> tuple[str, str | None]:
    """(the checkpoint directory to load, the registry name or None for a directory).

    ``world`` is where a registry name resolves: the mini world for a mini model (the default world
    when None), a :class:`HubCache` for a paper model (the default cache when None)."""
    text = str(name_or_dir)
    if is_model_name(text):
        spec = get_model_spec(text)
        return str(registry_checkpoint(spec, world)), spec.name
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UserError(f"{path} is not a model checkpoint directory (no config.json)")
        return str(path), None
    if path.exists():
        raise UserError(f"{path} is a file; expected a registry name or a checkpoint directory")
    raise unknown_name("model", text, model_names())


def registry_checkpoint(spec, world=None) -> Path:
    """The checkpoint directory of a registry model: in its mini world (a graded base model beside it,
    trained on first use) or in the hub cache; ``world`` None: the default one."""
    if spec.profile_kind.builds_world:
        from aspo_repro.miniworld.graded import model_dir

        return model_dir(_mini_world(world), spec.name)
    return (world or HubCache()).model_dir(spec.name)


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


def load_model_and_processor(name_or_dir: str | os.PathLike, *, dtype=None, device: str = "cpu", world=None,
                             protocol: str | None = None):
    """(model in eval mode on ``device``, processor) for a registry name or a checkpoint directory.

    ``protocol`` (an evaluation protocol's name, evaluation/protocols.py) sets the processor up as that
    protocol presents prompts and images to the checkpoint, so that preference generation and training
    prompt as its evaluation does; None keeps the checkpoint's own."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    source, name = resolve_source(name_or_dir, world)
    torch_dtype = _torch_dtype(dtype)
    try:
        processor = AutoProcessor.from_pretrained(source)
        model = AutoModelForImageTextToText.from_pretrained(source, dtype=torch_dtype)
    except OSError as error:
        raise UserError(_load_failure(source, name, error)) from error
    if getattr(processor, "chat_template", None) is None:
        # InstructBlipProcessor keeps no chat template of its own: use its tokenizer's (the mini
        # models have one; the hub's InstructBLIP has none, and prompts are the bare instruction).
        processor.chat_template = processor.tokenizer.chat_template
    family = family_of_model_type(model.config.model_type)
    if family is not None and family.language_model_generates:
        model.language_model.generation_config = model.generation_config
    if protocol is not None:
        from aspo_repro.evaluation.protocols import get_protocol

        get_protocol(protocol).prepare_processor(processor, model.config.model_type)
    return model.to(device).eval(), processor


def _load_failure(source: str, name: str | None, error: OSError) -> str:
    first = str(error).strip().splitlines()[0].rstrip(".") if str(error).strip() else type(error).__name__
    return f"cannot load {'model ' + repr(name) + ' ' if name else 'a model '}from {source}: {first}"
