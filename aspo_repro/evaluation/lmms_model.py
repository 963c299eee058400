"""The lmms-eval model object an evaluation asks its questions to: the adapter for a checkpoint
(the project's ``aspo_hf`` for the mini models, lmms-eval's own for the paper's by the checkpoint's
model type), loaded once for every benchmark, its prompts and images set up as the protocol says."""

from __future__ import annotations

import collections
import gc
import inspect
from pathlib import Path

from aspo_repro import storage
from aspo_repro.errors import UserError
from aspo_repro.evaluation.protocols import EvalProtocol
from aspo_repro.evaluation.settings import EvalSettings
from aspo_repro.files import read_json_object
from aspo_repro.models.families import FAMILY_REGISTRY, family_of_model_type
from aspo_repro.models.loading import precision_dtype
from aspo_repro.profile_kinds import get_profile_kind

MINI_ADAPTER = "aspo_hf"
# lmms-eval's adapters for the paper's checkpoints, by the checkpoint's config model_type: each
# family's ``lmms_adapter``, gathered here for .ci/check_rehearsal.py.
PAPER_ADAPTERS = {family.model_type: family.lmms_adapter for family in FAMILY_REGISTRY.values()}


def default_adapter(model_dir: Path, profile: str) -> str:
    """The adapter a checkpoint of ``profile`` is evaluated with when none is named: its family's."""
    if get_profile_kind(profile).evaluated_by_own_adapter:
        return MINI_ADAPTER
    model_type = read_json_object(model_dir / "config.json", "model config").get("model_type")
    family = family_of_model_type(model_type)
    if family is None:
        raise UserError(f"no lmms-eval adapter known for model_type {model_type!r}; known: "
                        f"{', '.join(PAPER_ADAPTERS)} (or name one with --adapter)")
    return family.lmms_adapter


def build_model(settings: EvalSettings, name: str):
    """The lmms-eval model object ``name`` for ``settings.model_dir`` (loaded once for all benchmarks)."""
    from aspo_repro.evaluation import instructblip_adapter
    from aspo_repro.evaluation.adapter import AspoHf, register

    register()
    instructblip_adapter.register()
    if name == MINI_ADAPTER:
        return AspoHf(pretrained=str(settings.model_dir), device=settings.device, batch_size=settings.batch_size,
                      threads=settings.threads, dtype=precision_dtype(settings.dtype) or "float32")
    return _lmms_eval_model(name, settings)


def _lmms_eval_model(name: str, settings: EvalSettings):
    import lmms_eval.models

    try:
        model_class = lmms_eval.models.get_model(name)
    except ImportError as error:
        raise UserError(f"lmms-eval's {name!r} adapter cannot be imported: {error} "
                        f"(install the missing package, e.g. `pip install {error.name}`)") from None
    except ValueError as error:
        raise UserError(f"unknown lmms-eval model {name!r}: {error}") from None
    if not (settings.model_dir / "config.json").is_file():
        raise UserError(f"{settings.model_dir} is not a model directory: it has no config.json")
    arguments = f"pretrained={settings.model_dir}"
    if settings.dtype is not None:
        arguments += f",dtype={precision_dtype(settings.dtype)}"
    if "device_map" in inspect.signature(model_class.__init__).parameters:
        # llava_hf's default device_map "" is refused by transformers 5: place the model on the device
        arguments += f",device_map={settings.device}"
    model_type = read_json_object(settings.model_dir / "config.json", "model config").get("model_type")
    template = settings.protocol.chat_template(model_type)
    if template is not None and "chat_template" in inspect.signature(model_class.__init__).parameters:
        conversation = {"chat_template": template}  # given as a value: a template holds commas
    else:
        conversation = {}
    try:
        model = model_class.create_from_arg_string(
            arguments, {"batch_size": settings.batch_size, "device": settings.device, **conversation})
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"cannot load the model in {settings.model_dir} with {name}: {error}") from None
    present_as_protocol(model, name, settings.protocol, model_type)
    # lmms-eval frees the model after each evaluation; the runner reuses it for the next benchmark.
    model.clean = gc.collect
    return model


def present_as_protocol(model, name: str, protocol: EvalProtocol, model_type: str | None) -> None:
    """The adapter's processor (lmms-eval's llava_hf and instructblip keep it as ``_image_processor``,
    loaded without options) set up as the protocol presents prompts and images."""
    processor = getattr(model, "_image_processor", None)
    if processor is None or not hasattr(processor, "image_processor"):
        if protocol.pads_to_square(model_type) or protocol.chat_template(model_type):
            raise UserError(f"the {protocol.name} protocol cannot set the {name} adapter's prompts and images "
                            "(no processor where llava_hf keeps it): use the default adapter, or protocol: lmms-eval")
        return
    protocol.prepare_processor(processor, model_type)


def model_fingerprint(model_dir: Path) -> str:
    """Cheap identity of a checkpoint directory: relative paths, sizes and modification times."""
    if not model_dir.is_dir():
        return str(model_dir)
    files = sorted(p for p in model_dir.rglob("*") if p.is_file())
    return storage.stable_hash([[p.relative_to(model_dir).as_posix(), p.stat().st_size, p.stat().st_mtime_ns]
                                for p in files])


def loaded_dtype(model) -> str | None:
    """The dtype holding most of the parameters of the network an lmms-eval model object loaded
    (``float16`` ...; not transformers' ``dtype``, the first parameter's: InstructBLIP's query tokens
    stay fp32 in an fp16 model); None when no model was loaded or it has no parameters."""
    network = getattr(model, "model", None)
    if not hasattr(network, "parameters"):
        return None
    counts = collections.Counter()
    for parameter in network.parameters():
        counts[parameter.dtype] += parameter.numel()
    return str(counts.most_common(1)[0][0]).removeprefix("torch.") if counts else None
