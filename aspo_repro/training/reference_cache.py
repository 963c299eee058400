"""Reference per-token log-probs, computed once per model and data and kept on disk.

The reference of DPO and ASPO is the base model (the fresh LoRA adapter disabled), so its per-token
log-probs depend on the base weights and the data only. They are computed in one pass before
training (no gradient, the trainer's own collator and layout) and stored in a safetensors file
named by a key of the weights, the data and the formatting; every later run on the same model and
data (other methods, seeds, a resumed run) reads them back, and each training step then runs the
policy forward only. Per-token values are kept (not sums): ASPO's sentence rewards need them.

With several processes each computes an equal share of the pairs, the main one gathers and writes
them, and every process then reads the file. The pass runs before the trainer hands the model to
DeepSpeed, on the whole (not yet sharded) model moved to the process's device for the pass: under
ZeRO-2 and ZeRO-3 too (``tests/training/test_ddp.py``). The cache is not used under FSDP (never
run here); the reference forward then runs inline, each step.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from aspo_repro.storage import atomic_write_bytes, file_lock, lock_path, stable_hash
from aspo_repro.training.collator import REFERENCE_COLUMNS

CACHE_VERSION = 1
SAMPLE_ELEMENTS = 4096


@dataclass
class ReferencePass:
    """What the run did about its reference log-probs (recorded in run.json)."""

    source: str  # "computed", "cache" or "inline"
    file: str | None = None
    pairs: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # the process's CPU time (steadier than wall time on a shared CPU)
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


def weights_digest(model: torch.nn.Module) -> str:
    """A content digest of the weights: each tensor's name, shape, dtype, float64 sum and norm,
    and a strided sample of its values. Two models differing in any weight get different
    digests unless the change preserves all of these (no realistic training or merge does)."""
    digest = hashlib.sha256()
    with torch.no_grad():
        for name, tensor in sorted(model.state_dict().items()):
            flat = tensor.detach().reshape(-1)
            digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
            if flat.is_floating_point():
                total = flat.sum(dtype=torch.float64)
                norm = torch.linalg.vector_norm(flat, dtype=torch.float64)
                digest.update(torch.stack([total, norm]).cpu().numpy().tobytes())
            step = max(1, flat.numel() // SAMPLE_ELEMENTS)
            sample = flat[::step].cpu()
            digest.update(
                (sample.float() if sample.is_floating_point() else sample).numpy().tobytes()
            )
    return digest.hexdigest()


def cache_key(identity: dict[str, Any]) -> str:
    return stable_hash({"version": CACHE_VERSION, **identity})


def unsupported_reason(trainer) -> str | None:
    """Why the cache cannot serve this trainer (None when it can)."""
    if trainer.is_fsdp_enabled:
        return "FSDP"
    unwrapped = trainer.accelerator.unwrap_model(trainer.model)
    if "ref" in getattr(unwrapped, "peft_config", {}):
        return "a separate reference adapter"
    return None


def attach_reference_logps(trainer, dataset, cache_file: Path, key: str, log=print):
    """``dataset`` with the reference log-probs of each pair as columns, read from or written to
    ``cache_file``; returns the dataset and a :class:`ReferencePass`."""
    from accelerate.utils import broadcast_object_list

    started, cpu_started = time.perf_counter(), time.process_time()
    accelerator = trainer.accelerator
    # Runs of several methods on one model share the cache: the main process of one computes it (with
    # its run's other processes), the others wait for the lock and read it.
    lock = (file_lock(lock_path(cache_file), f"the reference log-probs at {cache_file}", log)
            if accelerator.is_main_process else contextlib.nullcontext())
    with lock:
        missing = [accelerator.is_main_process and load_cache(cache_file, key, len(dataset)) is None]
        broadcast_object_list(missing, from_process=0)
        if missing[0]:
            values = compute_shared(trainer, dataset)
            if accelerator.is_main_process:
                save_cache(cache_file, key, values)
        accelerator.wait_for_everyone()
    values = load_cache(cache_file, key, len(dataset))
    if values is None:
        raise RuntimeError(f"{cache_file}: the reference log-probs just written do not read back")
    record = ReferencePass(
        "computed" if missing[0] else "cache",
        str(cache_file),
        len(dataset),
        round(time.perf_counter() - started, 3),
        round(time.process_time() - cpu_started, 3),
    )
    log(f"reference log-probs: {record.source} for {len(dataset)} pairs ({cache_file})")
    for column, rows in zip(REFERENCE_COLUMNS, values):
        dataset = dataset.add_column(column, [row.tolist() for row in rows])
    return dataset, record


def compute_shared(trainer, dataset) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Every pair's reference log-probs, each process computing a contiguous share, gathered in order."""
    from accelerate.utils import gather_object

    accelerator = trainer.accelerator
    start = len(dataset) * accelerator.process_index // accelerator.num_processes
    end = len(dataset) * (accelerator.process_index + 1) // accelerator.num_processes
    chosen, rejected = compute_reference_logps(trainer, dataset.select(range(start, end)))
    if accelerator.num_processes == 1:
        return chosen, rejected
    return gather_object(chosen), gather_object(rejected)


def compute_reference_logps(trainer, dataset) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Per pair, the reference log-probs of the chosen and of the rejected completion tokens."""
    import dataclasses

    collator = trainer.data_collator
    if dataclasses.is_dataclass(collator) and hasattr(collator, "granularity"):
        collator = dataclasses.replace(collator, granularity=None, needs_similarity=False)
    batch_size = trainer.args.per_device_train_batch_size
    chosen, rejected = [], []
    model = trainer.model
    was_training = model.training
    model.eval()
    # Under DeepSpeed the model waits on the CPU for the engine to place (and shard) it.
    home = next(model.parameters()).device
    model.to(trainer.args.device)
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    try:
        with torch.random.fork_rng(devices=devices), trainer.accelerator.autocast(), _whole_parameters():
            for start in tqdm(range(0, len(dataset), batch_size), desc="reference log-probs"):
                rows = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
                inputs = trainer._prepare_inputs(collator(rows))
                batch = trainer.pair_batch(inputs)
                sides = batch.sides(trainer.reference_log_probs(batch).float())
                for side, mask, out in zip(
                    sides, (batch.chosen_mask, batch.rejected_mask), (chosen, rejected)
                ):
                    out.extend(side[i][mask[i]].cpu() for i in range(len(rows)))
    finally:
        model.train(was_training)
        model.to(home)
    return chosen, rejected


@contextlib.contextmanager
def _whole_parameters():
    """Before the trainer hands the model to DeepSpeed its parameters are whole: under ZeRO-3,
    transformers and TRL (the fused log-prob head) must not gather shards that do not exist yet."""
    from transformers.integrations import deepspeed as hf_deepspeed

    if not hf_deepspeed.is_deepspeed_zero3_enabled():
        yield
        return
    config = hf_deepspeed._hf_deepspeed_config_weak_ref()  # what the ZeRO-3 test asks; kept alive by the trainer
    hf_deepspeed.unset_hf_deepspeed_config()
    try:
        yield
    finally:
        hf_deepspeed.set_hf_deepspeed_config(config)


def save_cache(path: Path, key: str, values: tuple[list[torch.Tensor], list[torch.Tensor]]) -> None:
    from safetensors.torch import save

    tensors = {}
    for name, rows in zip(("chosen", "rejected"), values):
        tensors[f"{name}_values"] = torch.cat(rows) if rows else torch.zeros(0)
        tensors[f"{name}_lengths"] = torch.tensor([len(row) for row in rows], dtype=torch.long)
    metadata = {"key": key, "rows": str(len(values[0]))}
    atomic_write_bytes(path, save(tensors, metadata=metadata))


def load_cache(
    path: Path, key: str, rows: int
) -> tuple[list[torch.Tensor], list[torch.Tensor]] | None:
    """The cached values, or None when the file is missing or holds another key or row count."""
    from safetensors import safe_open

    if not path.is_file():
        return None
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
        if metadata.get("key") != key or metadata.get("rows") != str(rows):
            return None
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    return tuple(
        list(tensors[f"{name}_values"].split(tensors[f"{name}_lengths"].tolist()))
        for name in ("chosen", "rejected")
    )
