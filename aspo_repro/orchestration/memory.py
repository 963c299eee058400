"""A memory plan before anything launches: peak GPU memory per step, from a model's config.

Pure functions of a checkpoint's ``config.json`` (``configs/models/*.json``) and a step's settings;
no torch model is built. Parameters, LoRA parameters, their gradients and the optimiser's states are
counted exactly (``benchmarks/memory_plan.py`` and ``tests/orchestration/test_memory.py`` compare
them with the bytes of a real PEFT model and a real AdamW); activations, KV caches and what a
library keeps aside (DDP's buckets, DeepSpeed's partitions) are estimates, and docs/memory-plan.md
says how each is reckoned.

For a training step the planner tries, in turn, what fits the GPUs the step gets: DDP, ZeRO-2,
ZeRO-3 at the recipe's micro-batch; the same with smaller micro-batches and more accumulation
(the global batch kept, ``training/config.split_batch``); 8-bit Adam; optimiser states offloaded to
the CPU. A preference-generation step keeps its results with a smaller generation batch, so the
largest batch that fits is proposed. A step that cannot fit is refused with one line.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aspo_repro.errors import UserError
from aspo_repro.models.families import FAMILY_REGISTRY, family_of_model_type
from aspo_repro.models.loading import precision_dtype
from aspo_repro.models.parameter_counts import TextModel, text_model
from aspo_repro.repository import REPO_ROOT

GIB = 2**30
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2, "fp32": 4, "bf16": 2, "fp16": 2}
# What a GPU holds besides the plan: the CUDA context and NCCL's buffers (about 1 GiB), and the
# caching allocator's fragmentation (about 5% of the rest): a plan must fit in what remains.
CONTEXT_GIB = 1.0
FRAGMENTATION = 0.05
# Text around the image in a prompt (vicuna_v1's system prompt and a LLaVA-Instruct question);
# the image's own tokens come from the config (576 patches for LLaVA-1.5, 32 queries for InstructBLIP).
PROMPT_TEXT_TOKENS = 128
# TRL's fused LM head computes log-probs this many tokens at a time (fp32 logits and their log-softmax).
LOGITS_CHUNK_TOKENS = 1024
ADAM_8BIT = ("adamw_bnb_8bit", "adamw_8bit", "paged_adamw_8bit")
# Where the evaluation decodes longest: SHR with 5 beams and 512 new tokens, the long-answer tasks
# with 1 beam and 1024 (evaluation/tasks/shr/shr.yaml, evaluation/protocols.LONG_ANSWER_DECODING),
# each at the profile's evaluate.batch_size.
EVAL_DECODINGS = ((5, 512), (1, 1024))


# ---------------------------------------------------------------- architecture: counted from the config
def image_tokens(config: dict) -> int:
    """Positions the image takes in the language model's sequence."""
    if "num_query_tokens" in config:
        return config["num_query_tokens"]
    vision = config["vision_config"]
    return config.get("image_seq_length") or (vision["image_size"] // vision["patch_size"]) ** 2


def parameter_counts(config: dict) -> dict[str, int]:
    """Parameters of a checkpoint by part (vision, connector, language), from its ``config.json``:
    its family counts them."""
    model_type = config.get("model_type")
    family = family_of_model_type(model_type)
    if family is None:
        known = ", ".join(family.model_type for family in FAMILY_REGISTRY.values())
        raise UserError(f"no memory model for model_type {model_type!r}; known: {known}")
    return family.count_parameters(config)


@dataclass(frozen=True)
class Lora:
    r: int
    targets: tuple[str, ...]


def lora_parameters(text: TextModel, lora: Lora) -> int:
    """LoRA's A (r x in) and B (out x r) on every targeted linear layer of every decoder layer."""
    shapes = text.linear_shapes()
    return text.layers * sum(lora.r * (shapes[name][0] + shapes[name][1]) for name in lora.targets)


def lora_tensors(text: TextModel, lora: Lora) -> int:
    return text.layers * len(lora.targets) * 2


# ---------------------------------------------------------------- estimates
@dataclass(frozen=True)
class Estimate:
    """Bytes per GPU by component (the parts marked "estimate" are reckoned, the others counted)."""

    parts: dict[str, float]

    @property
    def total(self) -> float:
        return sum(self.parts.values())

    @property
    def gib(self) -> float:
        return self.total / GIB


@dataclass(frozen=True)
class TrainShape:
    """One training step's settings as memory sees them."""

    config: dict
    lora: Lora
    precision: str  # the frozen weights' dtype (training loads the base in its precision)
    micro_batch: int
    max_length: int
    processes: int
    gradient_checkpointing: bool = True
    fused_log_probs: bool = True
    sequences_per_pair: int = 1  # 1 when a pair is packed into one sequence (shared_prompt), else 2


SHARDINGS = ("ddp", "zero2", "zero3")


def adam_state_bytes(trainable: int, tensors: int, eight_bit: bool = False) -> int:
    """AdamW's exp_avg and exp_avg_sq in the parameters' fp32 and a 4-byte step per tensor (torch);
    bitsandbytes' 8-bit Adam keeps one byte per state."""
    return (2 if eight_bit else 8) * trainable + 4 * tensors


def train_estimate(shape: TrainShape, sharding: str, *, eight_bit_adam: bool = False, offload: bool = False) -> Estimate:
    """Peak bytes on one GPU of a training step.

    DDP (and one process): PEFT keeps LoRA in fp32 under a bf16 base (``autocast_adapter_dtype``),
    with fp32 gradients, DDP's fp32 bucket copy of them (``gradient_as_bucket_view`` off, the
    Trainer's default; none in one process) and Adam's two fp32 states. ZeRO-2: DeepSpeed's bf16
    engine keeps LoRA in bf16 and shards its fp32 master copy, Adam's states and the gradients over
    the processes. ZeRO-3: TRL builds LoRA in the base's dtype (``autocast_adapter_dtype=False``) and
    DeepSpeed shards the parameters too, gathering one layer (and one prefetched) at a time.
    """
    text, processes = text_model(shape.config), shape.processes
    parameters = sum(parameter_counts(shape.config).values())
    trainable, tensors = lora_parameters(text, shape.lora), lora_tensors(text, shape.lora)
    weight = DTYPE_BYTES[shape.precision]
    optimizer = 0 if offload else adam_state_bytes(trainable, tensors, eight_bit_adam)
    if sharding == "ddp":
        parts = {"frozen weights": parameters * weight, "LoRA weights (fp32)": 4 * trainable,
                 "LoRA gradients (fp32)": 4 * trainable,
                 "DDP gradient buckets": 4 * trainable if processes > 1 else 0,
                 "optimizer states": optimizer}
    elif sharding == "zero2":
        parts = {"frozen weights": parameters * weight, "LoRA weights (bf16)": 2 * trainable,
                 "LoRA gradients (bf16, sharded)": 2 * trainable / processes,
                 "fp32 master + optimizer (sharded)": (0 if offload else 4 * trainable + optimizer) / processes}
    elif sharding == "zero3":
        gathered = 2 * max(text.layer_parameters() + sum(shape.lora.r * sum(text.linear_shapes()[t]) for t in shape.lora.targets),
                           text.vocab * text.hidden) * weight
        parts = {"weights (sharded)": (parameters * weight + 2 * trainable) / processes,
                 "gathered layers (2 in flight)": gathered,
                 "LoRA gradients (bf16, sharded)": 2 * trainable / processes,
                 "fp32 master + optimizer (sharded)": (0 if offload else 4 * trainable + optimizer) / processes}
    else:
        raise ValueError(f"unknown sharding {sharding!r}")
    parts["reference pass"] = 0  # the adapter-disabled policy: no second copy; its log-probs are cached
    parts["activations (estimate)"] = train_activations(shape, text)
    return Estimate(parts)


def train_activations(shape: TrainShape, text: TextModel) -> float:
    """Activations of one micro-batch of pairs at ``max_length`` tokens a sequence, in bf16.

    Under gradient checkpointing: each decoder layer's input kept, one layer recomputed in full
    (attention by SDPA, no (length x length) scores: q, k, v, output, the norms' inputs, SwiGLU's
    three intermediates and its product) plus LoRA's inputs and rank-r intermediates; without it,
    every layer in full. The LM head's logits: one chunk (TRL's fused head) or every token in fp32."""
    tokens = shape.micro_batch * shape.sequences_per_pair * shape.max_length
    shapes = text.linear_shapes()
    lora = sum(shapes[t][0] + shape.lora.r + shapes[t][1] for t in shape.lora.targets)
    per_layer = 2 * tokens * (9 * text.hidden + 4 * text.intermediate + lora)
    kept = text.layers * 2 * tokens * text.hidden + per_layer if shape.gradient_checkpointing else text.layers * per_layer
    logits = (min(tokens, LOGITS_CHUNK_TOKENS) if shape.fused_log_probs else tokens) * text.vocab * (4 + 4)
    return kept + logits


def generation_estimate(config: dict, dtype: str, sequences: int, new_tokens: int) -> Estimate:
    """Weights plus the KV cache of ``sequences`` sequences (beams count as sequences) of a prompt
    and ``new_tokens`` answer tokens, plus the prefill's transient activations and last-token logits."""
    text = text_model(config)
    width = DTYPE_BYTES[dtype]
    prompt = image_tokens(config) + PROMPT_TEXT_TOKENS
    kv = 2 * text.layers * text.kv_heads * text.head_dim * width * sequences * (prompt + new_tokens)
    prefill = sequences * prompt * (4 * text.hidden + 3 * text.intermediate) * width
    return Estimate({"weights": sum(parameter_counts(config).values()) * width, "KV cache": kv,
                     "prefill activations (estimate)": prefill, "logits": sequences * text.vocab * 4})


def checkpoint_dtype(config: dict) -> str:
    """The dtype ``from_pretrained(dtype="auto")`` loads: the one the checkpoint records."""
    from aspo_repro.models.loading import recorded_dtype

    return recorded_dtype(config)


# ---------------------------------------------------------------- hardware and plans
@dataclass(frozen=True)
class Hardware:
    gpus: int
    gpu_memory_gib: float

    @property
    def usable_bytes(self) -> float:
        return (self.gpu_memory_gib - CONTEXT_GIB) * (1 - FRAGMENTATION) * GIB

    def describe(self) -> str:
        return f"{self.gpus} x {self.gpu_memory_gib:g} GiB"


def seen_gpu_memory_gib() -> float | None:
    """The memory of the first GPU torch sees; None without one."""
    import torch

    return torch.cuda.get_device_properties(0).total_memory / GIB if torch.cuda.is_available() else None


def detect_hardware(gpus: int | None = None, gpu_memory_gb: float | None = None) -> Hardware | None:
    """The hardware to plan for: what is given (``reproduce --gpus --gpu-memory-gb``), the rest from
    what torch sees; None without GPUs (the steps then run on the CPU, unplanned)."""
    if gpus is not None and gpus < 0:
        raise UserError(f"--gpus must be 0 or more; got {gpus}")
    if gpu_memory_gb is not None and gpu_memory_gb <= 0:
        raise UserError(f"--gpu-memory-gb must be positive; got {gpu_memory_gb}")
    import torch

    from aspo_repro.devices import visible_gpus

    given = gpus is not None
    gpus = visible_gpus() if gpus is None else gpus
    if gpus == 0:
        return None
    if gpu_memory_gb is None:
        if not torch.cuda.is_available():
            if given:
                raise UserError("--gpus without a GPU here needs --gpu-memory-gb (each GPU's memory, e.g. 80)")
            return None
        gpu_memory_gb = seen_gpu_memory_gib()
    return Hardware(gpus, gpu_memory_gb)


@dataclass(frozen=True)
class StepPlan:
    """What a step runs with and its estimated peak per GPU; ``refusal`` when it cannot fit."""

    kind: str
    model: str
    processes: int
    estimate: Estimate
    settings: str  # "micro-batch 10 x accumulation 1 (global 80), ZeRO-3" ...
    tried: tuple[str, ...] = ()  # what the planner rejected before it, with its estimate
    refusal: str | None = None

    def line(self, hardware: Hardware) -> str:
        verdict = "REFUSED" if self.refusal else "fits"
        tried = f" [rejected: {'; '.join(self.tried)}]" if self.tried else ""
        return (f"{self.kind:<8} {self.model:<17} {self.processes} x GPU, {self.settings}: "
                f"{self.estimate.gib:.1f} of {hardware.gpu_memory_gib:g} GiB per GPU, {verdict}{tried}")


@dataclass(frozen=True)
class TrainChoice:
    """One way of running a training step: sharding, micro-batch, 8-bit Adam, optimiser on the CPU."""

    sharding: str
    micro_batch: int
    eight_bit_adam: bool = False
    offload: bool = False

    def estimate(self, shape: TrainShape) -> Estimate:
        return train_estimate(dataclasses.replace(shape, micro_batch=self.micro_batch), self.sharding,
                              eight_bit_adam=self.eight_bit_adam, offload=self.offload)

    def describe(self, shape: TrainShape, global_batch: int) -> str:
        from aspo_repro.training.config import split_batch

        accumulation = split_batch(global_batch, self.micro_batch, shape.processes).gradient_accumulation_steps
        return (f"micro-batch {self.micro_batch} x accumulation {accumulation} (global {global_batch}), "
                f"{sharding_label(self.sharding, shape.processes)}{', 8-bit Adam' if self.eight_bit_adam else ''}"
                f"{', optimizer on CPU' if self.offload else ''}")

    def short(self, shape: TrainShape) -> str:
        return (f"{sharding_label(self.sharding, shape.processes)} mb {self.micro_batch}"
                f"{' 8-bit' if self.eight_bit_adam else ''}{' offload' if self.offload else ''} "
                f"{self.estimate(shape).gib:.1f}")


def training_choices(shape: TrainShape, global_batch: int, eight_bit: bool = False) -> list[TrainChoice]:
    """Every way to run a step, in the planner's order of preference: DDP, ZeRO-2, ZeRO-3 at the
    recipe's micro-batch, then at each smaller micro-batch (more accumulation, the global batch
    kept); then 8-bit Adam under DDP; then ZeRO with the optimiser on the CPU."""
    from aspo_repro.training.config import split_batch

    shardings = SHARDINGS if shape.processes > 1 else ("ddp",)
    micro_batches = sorted({split_batch(global_batch, limit, shape.processes).per_device_batch_size
                            for limit in range(1, shape.micro_batch + 1)}, reverse=True)
    choices = [TrainChoice(s, b, eight_bit) for b in micro_batches for s in shardings]
    if not eight_bit:
        choices += [TrainChoice("ddp", b, True) for b in micro_batches]
    choices += [TrainChoice(s, b, offload=True) for b in micro_batches for s in shardings if s != "ddp"]
    return choices


def first_fit(shape: TrainShape, global_batch: int, hardware: Hardware, eight_bit: bool = False
              ) -> tuple[TrainChoice | None, list[TrainChoice]]:
    """The first choice that fits, and those rejected before it."""
    rejected = []
    for choice in training_choices(shape, global_batch, eight_bit):
        if choice.estimate(shape).total <= hardware.usable_bytes:
            return choice, rejected
        rejected.append(choice)
    return None, rejected


def plan_training(model: str, shape: TrainShape, global_batch: int, hardware: Hardware, sharding: str,
                  optimizer: str = "adamw_torch", accelerate_config: str | None = None, planned: bool = False
                  ) -> StepPlan:
    """The step as the profile runs it (``sharding``, the split's micro-batch, ``optimizer``); when it
    does not fit, a refusal naming the first choice that does (``training_choices``' order) and the
    settings that give it."""
    eight_bit = optimizer in ADAM_8BIT
    configured = TrainChoice(sharding if shape.processes > 1 else "ddp", shape.micro_batch, eight_bit)
    estimate = configured.estimate(shape)
    fits = estimate.total <= hardware.usable_bytes
    choice, rejected = (configured, []) if fits else first_fit(shape, global_batch, hardware, eight_bit)
    tried = tuple(c.short(shape) for c in rejected[:3]) + ((f"... {len(rejected) - 3} more",) if len(rejected) > 3 else ())
    picked = " (picked by the plan)" if planned and shape.processes > 1 else ""
    plan = StepPlan("train", model, shape.processes, estimate, configured.describe(shape, global_batch) + picked, tried)
    if fits:
        return plan
    where = f" under {_relative(accelerate_config)}" if accelerate_config and shape.processes > 1 else ""
    needs = (f"train {model}: needs {estimate.gib:.1f} GiB per GPU ({configured.describe(shape, global_batch)}{where}) "
             f"on {hardware.describe()} (usable {hardware.usable_bytes / GIB:.1f})")
    if choice is None:
        return dataclasses.replace(plan, refusal=f"{needs}; nothing fits: use more or larger GPUs")
    return dataclasses.replace(plan, refusal=(
        f"{needs}; {choice.describe(shape, global_batch)} fits at {choice.estimate(shape).gib:.1f}: set "
        f"{settings_for(choice, configured, planned)}"))


def settings_for(choice: TrainChoice, configured: TrainChoice, planned: bool = False) -> str:
    """The profile settings that make the trainer run ``choice`` (where the plan picks the sharding,
    the batch and optimiser settings that let it pick ``choice``'s)."""
    changes = []
    if (choice.sharding != configured.sharding and not planned) or choice.offload:
        config = ACCELERATE_CONFIGS[choice.sharding]
        changes.append(f"train.accelerate_config: {config}"
                       + (" with deepspeed_config.offload_optimizer_device: cpu" if choice.offload else ""))
    overrides = []
    if choice.micro_batch != configured.micro_batch:
        overrides.append(f"per_device_batch_size: {choice.micro_batch}")
    if choice.eight_bit_adam and not configured.eight_bit_adam:
        overrides.append("optimizer: adamw_bnb_8bit")
    if overrides:
        changes.append(f"train.overrides: {{{', '.join(overrides)}}}")
    return " and ".join(changes)


ACCELERATE_CONFIGS = {"ddp": "configs/accelerate/ddp_8gpu.yaml", "zero2": "configs/accelerate/zero2_8gpu.yaml",
                      "zero3": "configs/accelerate/zero3_8gpu.yaml"}


def _relative(path: str) -> str:
    return str(Path(path).relative_to(REPO_ROOT)) if Path(path).is_relative_to(REPO_ROOT) else str(path)


def sharding_label(sharding: str, processes: int) -> str:
    if processes == 1:
        return "one process"
    return {"ddp": "DDP", "zero2": "ZeRO-2", "zero3": "ZeRO-3"}[sharding]


def plan_generation(kind: str, model: str, config: dict, dtype: str, hardware: Hardware, batch: int,
                    sequences_per_item: int, new_tokens: int, setting: str) -> StepPlan:
    """A generation step on one GPU: its batch if it fits, else a refusal naming the largest that does."""
    estimate = generation_estimate(config, dtype, batch * sequences_per_item, new_tokens)
    settings = f"{dtype}, batch {batch} ({batch * sequences_per_item} sequences x {new_tokens} new tokens)"
    if estimate.total <= hardware.usable_bytes:
        return StepPlan(kind, model, 1, estimate, settings)
    fitting = [b for b in range(batch - 1, 0, -1)
               if generation_estimate(config, dtype, b * sequences_per_item, new_tokens).total <= hardware.usable_bytes]
    half = next((d for d in ("bf16", "fp16") if DTYPE_BYTES[d] < DTYPE_BYTES[dtype]), None)
    ways = ([f"{setting}: {fitting[0]}"] if fitting else []) + ([f"{kind}.dtype: {half}"] if half else [])
    way_out = " or ".join(ways) if ways else "a GPU with more memory"
    refusal = (f"{kind} {model}: needs {estimate.gib:.1f} GiB ({settings}) on a {hardware.gpu_memory_gib:g} GiB GPU "
               f"(usable {hardware.usable_bytes / GIB:.1f}); set {way_out}")
    return StepPlan(kind, model, 1, estimate, settings, refusal=refusal)


def model_config(model: str) -> dict | None:
    """A paper model's ``config.json`` as kept in ``configs/models/`` (None for a model without one)."""
    from aspo_repro.rehearsal.checkpoints import paper_config

    if not (REPO_ROOT / "configs" / "models" / f"{model}.json").is_file():
        return None
    return paper_config(model)


def accelerate_sharding(path: str | Path) -> str:
    """The sharding an accelerate config file asks for: ddp, zero2 or zero3."""
    from aspo_repro.files import read_yaml_mapping

    data = read_yaml_mapping(Path(path), "accelerate config")
    if data.get("distributed_type") == "DEEPSPEED":
        stage = (data.get("deepspeed_config") or {}).get("zero_stage")
        return {2: "zero2", 3: "zero3"}.get(stage, "ddp")
    return "ddp"


def profile_is_planned(profile: Any) -> bool:
    """Profiles whose models are the real checkpoints on GPUs; the mini world and the rehearsal's
    stand-ins run on a CPU, unplanned."""
    return profile.world is None and profile.standins is None


def plan_memory(plan: Any, profile: Any, hardware: Hardware) -> list[StepPlan]:
    """One memory plan per (step kind, model) of ``plan`` that runs on GPUs (its kind's ``plan_memory``)."""
    from aspo_repro.models.registry import get_model_spec

    plans: dict[tuple[str, str], StepPlan] = {}
    for step in plan.steps:
        config = model_config(step.model) if step.model else None
        if config is None or (step.kind.name, step.model) in plans:
            continue
        planned = step.kind.plan_memory(step.model, config, get_model_spec(step.model), profile, hardware)
        if planned is not None:
            plans[(step.kind.name, step.model)] = planned
    return list(plans.values())


def plan_preference_generation(model: str, config: dict, profile: Any, hardware: Hardware) -> StepPlan:
    prefs = profile.prefs
    return plan_generation("prefs", model, config, precision_dtype(prefs.dtype) or checkpoint_dtype(config),
                           hardware, prefs.batch_size, 2, prefs.max_new_tokens, "prefs.batch_size")


def plan_evaluation(model: str, config: dict, profile: Any, hardware: Hardware) -> StepPlan:
    beams, new_tokens = max(EVAL_DECODINGS, key=lambda d: d[0] * (image_tokens(config) + PROMPT_TEXT_TOKENS + d[1]))
    dtype = precision_dtype(profile.evaluate.dtype) or checkpoint_dtype(config)
    return plan_generation("evaluate", model, config, dtype, hardware, profile.evaluate.batch_size,
                           beams, new_tokens, "evaluate.batch_size")


def plan_train(model: str, config: dict, spec: Any, profile: Any, hardware: Hardware) -> StepPlan:
    """The training step as the profile runs it on ``hardware``: one process per GPU (or
    ``train.processes``), the sharding of its accelerate config (or the one the plan picks), the
    global batch's split."""
    train = profile.train
    shape, global_batch, optimizer = train_shape(model, config, spec, profile, hardware)
    if train.sharding_is_planned:
        sharding = planned_sharding(shape, global_batch, hardware, optimizer, tuple(train.accelerate_configs))
        accelerate_config = train.accelerate_configs[sharding]
    else:
        accelerate_config = train.accelerate_config
        sharding = accelerate_sharding(accelerate_config) if accelerate_config else "ddp"
    return plan_training(model, shape, global_batch, hardware, sharding, optimizer, accelerate_config,
                         planned=train.sharding_is_planned)


def train_shape(model: str, config: dict, spec: Any, profile: Any, hardware: Hardware) -> tuple[TrainShape, int, str]:
    """What a training step of ``model`` holds on each GPU of ``hardware``: its shape, the global
    batch and the optimiser."""
    from aspo_repro.training.config import batch_split

    cfg = profile.train.train_config(0)
    processes = profile.train.processes_for(hardware.gpus)
    split = batch_split(cfg, spec.training, processes)
    lora = Lora(cfg.lora_r or spec.lora.r, tuple(cfg.lora_target_modules or spec.lora.target_modules))
    packed = cfg.shared_prompt and spec.family_spec.packs_pairs  # training/run.shares_prompt's rule, before the model exists
    shape = TrainShape(config, lora, cfg.precision, split.per_device_batch_size, cfg.max_length, processes,
                       cfg.gradient_checkpointing, cfg.fused_log_probs, 1 if packed else 2)
    return shape, split.global_batch_size, cfg.optimizer


def planned_sharding(shape: TrainShape, global_batch: int, hardware: Hardware, optimizer: str,
                     offered: tuple[str, ...]) -> str:
    """The sharding the plan picks among ``offered``: the first of DDP, ZeRO-2, ZeRO-3 that fits at the
    recipe's micro-batch (less sharding is less communication); the most sharded when none fits (the
    plan then refuses the step, naming what would fit)."""
    offered = [sharding for sharding in SHARDINGS if sharding in offered]
    for sharding in offered:
        if TrainChoice(sharding, shape.micro_batch, optimizer in ADAM_8BIT).estimate(shape).total <= hardware.usable_bytes:
            return sharding
    return offered[-1]


def training_accelerate_config(model: str, profile: Any, hardware: Hardware | None) -> str | None:
    """The accelerate config that trains ``model`` on ``hardware`` (the GPUs a step gets): the
    profile's, or the one of the sharding the plan picks; ``train.plan_for`` stands for the GPUs
    where none is seen."""
    train = profile.train
    if not train.sharding_is_planned:
        return train.accelerate_config
    if hardware is None and train.plan_for is not None:
        hardware = Hardware(train.plan_for.gpus, train.plan_for.gpu_memory_gb)
    config = model_config(model)
    if hardware is None or config is None:
        raise UserError(f"train {model}: the memory plan picks the sharding (train.accelerate_configs), but "
                        + ("no GPU is seen: set train.plan_for: {gpus: N, gpu_memory_gb: M}" if hardware is None
                           else f"configs/models/{model}.json does not exist: set train.accelerate_config"))
    from aspo_repro.models.registry import get_model_spec

    shape, global_batch, optimizer = train_shape(model, config, get_model_spec(model), profile, hardware)
    return train.accelerate_configs[planned_sharding(shape, global_batch, hardware, optimizer,
                                                     tuple(train.accelerate_configs))]


def describe_memory(plans: list[StepPlan], hardware: Hardware) -> str:
    lines = [f"memory plan for {hardware.describe()} (usable {hardware.usable_bytes / GIB:.1f} GiB per GPU after "
             f"the CUDA context and {FRAGMENTATION:.0%} fragmentation):"]
    for plan in plans:
        lines.append(f"  {plan.line(hardware)}")
        if plan.refusal:
            lines.append(f"      refused: {plan.refusal}")
    return "\n".join(lines)


def check_memory(plans: list[StepPlan]) -> None:
    """Refuse a plan a step of which cannot fit: the first such step's one line."""
    refused = [plan for plan in plans if plan.refusal]
    if refused:
        more = f" (and {len(refused) - 1} more step(s) refused)" if len(refused) > 1 else ""
        raise UserError(f"memory: {refused[0].refusal}{more}")
