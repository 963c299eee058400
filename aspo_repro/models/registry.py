"""The model registry: the paper's base models and the mini world's analogues.

Each entry records where the checkpoint comes from (a hub id for the paper profile, the mini
world's build for the mini profile), its architecture family, and the LoRA recipe and training
settings of the paper (section 4.1, ``docs/aspo-math.md``, "Training").
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from aspo_repro.errors import unknown_name
from aspo_repro.models.families import FAMILIES, ModelFamily, get_family
from aspo_repro.profile_kinds import PROFILES, ProfileKind, get_profile_kind

# PEFT target names: every linear layer of a Llama language model, and its attention q/k/v.
LLAMA_ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
LLAMA_QKV = ("q_proj", "k_proj", "v_proj")


@dataclass(frozen=True)
class LoraRecipe:
    r: int
    alpha: int
    target_modules: tuple[str, ...]
    dropout: float = 0.0
    # A regex on module names restricting LoRA to the language model (not the vision tower or
    # Q-Former, which share projection names).
    module_scope: str = r".*language_model.*"


@dataclass(frozen=True)
class TrainingDefaults:
    learning_rate: float
    batch_size: int  # pairs per device per forward pass (a micro-batch): the most one device takes
    # Pairs per optimiser step, over every process and accumulation step: the recipe's fact.
    # None: one device's batch (``batch_size``). training/config.split_batch derives the split.
    global_batch_size: int | None = None
    epochs: int = 1
    scheduler: str = "cosine"
    weight_decay: float = 0.0
    beta: float = 0.1


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str
    profile: str
    source: str  # a hub id (paper profile) or the mini world's model name (mini profile)
    lora: LoraRecipe
    training: TrainingDefaults
    description: str = ""
    analogue_of: str | None = None  # for a mini model: the paper model it stands in for
    label: str = ""  # the name tables print (the registry name when empty)
    extra: dict = field(default_factory=dict, hash=False, compare=False)
    # A graded base model (``mini-llava-s-sft25``): the registered mini model ``graded_from`` trained by
    # the same SFT recipe for ``sft_budget`` times its steps (miniworld/graded.py), built beside its world.
    graded_from: str | None = None
    sft_budget: float = 1.0

    @property
    def display_name(self) -> str:
        return self.label or self.name

    @property
    def profile_kind(self) -> ProfileKind:
        return get_profile_kind(self.profile)

    @property
    def family_spec(self) -> ModelFamily:
        return get_family(self.family)

    @property
    def stands_for(self) -> str:
        """The paper model whose published numbers this model's are read against (itself, on the paper profile)."""
        return self.analogue_of or self.name

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}; got {self.family!r}")
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}; got {self.profile!r}")


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"model {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def get_model_spec(name: str) -> ModelSpec:
    """A registered model, or a graded base model of a registered mini model (``<name>-sft<percent>``)."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    graded = _graded_spec(name)
    if graded is None:
        raise unknown_name("model", name, _REGISTRY)
    return graded


def is_model_name(name: str) -> bool:
    """Whether ``name`` is a registered model or a graded base model of one."""
    return name in _REGISTRY or _graded_spec(name) is not None


# ``mini-llava-s-sft25``: mini-llava-s by its world's SFT recipe for 25% of its steps (``-sft300``: three times)
_GRADED_NAME = re.compile(r"(?P<base>.+)-sft(?P<percent>[1-9][0-9]{0,2})")


def graded_name(base: str, budget: float) -> str:
    """The name of ``base`` trained for ``budget`` times its SFT steps (a whole percentage, 1% to 999%, not 100%)."""
    percent = round(budget * 100)
    if not _is_graded_percent(percent) or abs(percent - budget * 100) > 1e-6:
        raise ValueError(f"an SFT budget is a whole percentage from 1% to 999%, other than 100% (the world's own "
                         f"model); got {budget!r}")
    return f"{base}-sft{percent}"


def _is_graded_percent(percent: int) -> bool:
    return 1 <= percent <= 999 and percent != 100


def _graded_spec(name: str) -> ModelSpec | None:
    match = _GRADED_NAME.fullmatch(name)
    base = _REGISTRY.get(match["base"]) if match else None
    if base is None or not base.profile_kind.builds_world:  # only a model the world trains can be graded
        return None
    percent = int(match["percent"])
    if not _is_graded_percent(percent):
        return None
    return dataclasses.replace(
        base, name=name, source=name, graded_from=base.name, sft_budget=percent / 100,
        label=f"{base.display_name}, SFT {percent}%",
        description=f"{base.description}, for {percent}% of its SFT steps (a graded base model)")


def model_names(profile: str | None = None) -> list[str]:
    return [spec.name for spec in all_models(profile)]


def all_models(profile: str | None = None) -> list[ModelSpec]:
    return [spec for spec in _REGISTRY.values() if profile is None or spec.profile == profile]


LLAVA_LORA = LoraRecipe(r=1024, alpha=2048, target_modules=LLAMA_ALL_LINEAR)
INSTRUCTBLIP_LORA = LoraRecipe(r=64, alpha=16, target_modules=LLAMA_QKV)
# The paper's "batch size of 10" (section 4.1) read as SeVa's launch scripts run it: 10 per GPU on its
# 8 GPUs, 80 pairs per optimiser step; InstructBLIP 1 per GPU on 8, 8 per step. The other readings:
# 10 in all (global_batch_size 10), and for InstructBLIP HA-DPO's 32 (1 per GPU x accumulation 4 x
# 8 GPUs); a training config's global_batch_size chooses one (docs/batch.md).
LLAVA_TRAINING = TrainingDefaults(learning_rate=2e-6, batch_size=10, global_batch_size=80)
INSTRUCTBLIP_TRAINING = TrainingDefaults(learning_rate=4e-6, batch_size=1, global_batch_size=8)

register_model(ModelSpec(
    "llava-1.5-7b", "llava", "paper", "llava-hf/llava-1.5-7b-hf", LLAVA_LORA, LLAVA_TRAINING,
    "LLaVA-1.5-7B (CLIP ViT-L/14-336 + MLP projector + Vicuna-7B)", label="LLaVA-1.5-7B",
))
register_model(ModelSpec(
    "llava-1.5-13b", "llava", "paper", "llava-hf/llava-1.5-13b-hf", LLAVA_LORA, LLAVA_TRAINING,
    "LLaVA-1.5-13B (CLIP ViT-L/14-336 + MLP projector + Vicuna-13B)", label="LLaVA-1.5-13B",
))
register_model(ModelSpec(
    "instructblip-13b", "instructblip", "paper", "Salesforce/instructblip-vicuna-13b",
    INSTRUCTBLIP_LORA, INSTRUCTBLIP_TRAINING,
    "InstructBLIP-13B (EVA ViT-g + Q-Former + Vicuna-13B)", label="InstructBLIP-13B",
))

# The mini world's analogues (``docs/miniworld.md``): toy models of the same families,
# trained from scratch by the mini world's SFT. The LoRA recipes keep the paper's proportions:
# LLaVA's rank a quarter of the language model's width with alpha = 2 r on every linear layer
# (r 32 on the toy width 128, used for both sizes as the paper uses r 1024 for both), and
# InstructBLIP's alpha = r / 4 on q/k/v; the per-device batches are the paper's, in one process (the
# global batch is one device's). The learning rates are
# chosen by the rule of configs/tables/lr_sweep.yaml, stated before the sweep was run: the largest
# rate at which DPO moves the held-out chosen answers by 0.005 to 0.05 nats per token (measured:
# tables/lr-sweep.md, docs/miniworld.md "Choosing the training regime"). The paper's 2e-6 moves
# no toy model; 1e-4, used before, made DPO collapse on the LLaVAs (-0.11 nats per token, correct
# sentences halved). mini-InstructBLIP barely moves below 3e-4; since its Q-Former is pretrained (stop 49)
# 3e-4 moves it by -0.044 nats per token and 4e-4, the rule's rate before, by -0.154.
MINI_LLAVA_LORA = LoraRecipe(r=32, alpha=64, target_modules=LLAMA_ALL_LINEAR)
MINI_INSTRUCTBLIP_LORA = LoraRecipe(r=8, alpha=2, target_modules=LLAMA_QKV)
MINI_LLAVA_TRAINING = TrainingDefaults(learning_rate=5e-5, batch_size=10)
MINI_INSTRUCTBLIP_TRAINING = TrainingDefaults(learning_rate=3e-4, batch_size=1)

register_model(ModelSpec(
    "mini-llava-s", "llava", "mini", "mini-llava-s", MINI_LLAVA_LORA, MINI_LLAVA_TRAINING,
    "toy LLaVA (the mini CLIP's ViT + MLP projector + 2-layer Llama), SFT in the mini world",
    analogue_of="llava-1.5-7b", label="mini-LLaVA-S",
))
register_model(ModelSpec(
    "mini-llava-m", "llava", "mini", "mini-llava-m", MINI_LLAVA_LORA, MINI_LLAVA_TRAINING,
    "larger toy LLaVA (the mini CLIP's ViT + MLP projector + wider 3-layer Llama), SFT in the mini world",
    analogue_of="llava-1.5-13b", label="mini-LLaVA-M",
))
register_model(ModelSpec(
    "mini-instructblip", "instructblip", "mini", "mini-instructblip", MINI_INSTRUCTBLIP_LORA,
    MINI_INSTRUCTBLIP_TRAINING,
    "toy InstructBLIP (an EVA-CLIP-like ViT + instruction-aware Q-Former + 2-layer Llama), SFT in the mini world",
    analogue_of="instructblip-13b", label="mini-InstructBLIP",
))
