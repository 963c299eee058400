"""The world's configuration: typed dataclasses and the two presets, ``full`` and ``tiny``.

``full`` is what ``python -m aspo_repro world build`` makes (the mini profile of every table);
``tiny`` is the same pipeline at a few items and steps, for tests. The cache key of a build is
a hash of this configuration, the seed and the code that turns it into files
(``build.code_version``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from aspo_repro.errors import unknown_name
from aspo_repro.miniworld.scene import SceneBias
from aspo_repro.models.architectures import ImageSpec, InstructBlipSize, LlavaSize, TowerSize

SIZES = ("full", "tiny")


@dataclass(frozen=True)
class DataConfig:
    sft_scenes: int
    pool_scenes: int  # scenes of the preference-instruction pool
    bench_scenes: int  # held-out scenes the benchmarks draw from
    pope_images: int
    shr_items: int
    gqa_items: int
    mmb_items: int
    pool_describe_share: float = 0.75
    grain: float = 0.0  # pixel noise on every image (render.add_grain), standard deviation on 0-255
    image: ImageSpec = ImageSpec()
    bias: SceneBias = SceneBias()


@dataclass(frozen=True)
class SftConfig:
    """Two phases on one optimiser: ``grounding_steps`` on the short-answer questions only (each
    answer needs the image), then ``steps`` on the whole SFT mix, descriptions included."""

    grounding_steps: int
    steps: int
    batch_size: int = 32
    learning_rate: float = 3e-4
    warmup_steps: int = 30
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0

    @property
    def total_steps(self) -> int:
        return self.grounding_steps + self.steps


@dataclass(frozen=True)
class QformerPretraining:
    """Before its SFT, ``steps`` of the per-cell objective on ``scenes`` freshly rendered scenes, and
    ``held_out`` more to measure it on (``qformer_pretraining.py``): InstructBLIP's pretrained Q-Former."""

    scenes: int
    steps: int
    learning_rate: float = 1e-3
    batch_size: int = 32
    held_out: int = 600

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class BaseModelRecipe:
    name: str  # the registry name (``mini-llava-s`` ...)
    family: str  # ``llava`` or ``instructblip``
    size: LlavaSize | InstructBlipSize
    sft: SftConfig
    vision_from: str  # the world's CLIP stage whose ViT starts (and stays, frozen) the vision tower
    seed_offset: int = 0  # models of one world start from different random weights
    qformer_pretraining: QformerPretraining | None = None  # InstructBLIP's Q-Former only


VISION = TowerSize(64, 2, 2, 256)  # every mini model's vision tower: its CLIP's ViT


@dataclass(frozen=True)
class ClipConfig:
    embed_dim: int = 64
    vision: TowerSize = VISION
    text: TowerSize = TowerSize(64, 2, 2, 256)
    no_ln_pre: bool = False  # EVA-CLIP-like ViT without pre-LayerNorm (InstructBLIP's vision model)
    context_length: int = 24
    # "contrastive": object sentences, CLIP's loss (the vision towers); "judged": every sentence form
    # with hard negatives, CLIP's loss told the judge's labels (the scorer; clip_train's docstring)
    objective: str = "contrastive"
    negatives: int = 1  # hard negatives drawn per true sentence (judged); repeats dropped
    # how often each sentence form is a batch's true sentence (judged): objects need the most learning
    form_weights: dict = dataclasses.field(default_factory=lambda: {"count": 0.2, "object": 0.6, "relation": 0.2})
    patch_size: int | None = None  # None: the world's (every vision tower's); the scorer may see finer
    steps: int = 500
    batch_size: int = 128
    learning_rate: float = 2e-3
    warmup_steps: int = 20


@dataclass(frozen=True)
class WorldConfig:
    size: str
    data: DataConfig
    models: tuple[BaseModelRecipe, ...]
    clips: dict[str, ClipConfig]  # ``clip``: LLaVA's ViT; ``eva-clip``: InstructBLIP's ViT
    workers: int = 1  # stages built side by side (processes of one thread each; capped by the CPUs)

    def recipe(self, name: str) -> BaseModelRecipe:
        for recipe in self.models:
            if recipe.name == name:
                return recipe
        raise unknown_name("mini model", name, [r.name for r in self.models])

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


LLAVA_S = LlavaSize(vision=VISION, text=TowerSize(128, 2, 4, 256))
LLAVA_M = LlavaSize(vision=VISION, text=TowerSize(160, 3, 4, 320))
INSTRUCTBLIP = InstructBlipSize(
    vision=VISION, qformer=TowerSize(64, 2, 2, 128), text=TowerSize(128, 2, 4, 256), num_query_tokens=9,
)
# ``clip`` and ``eva-clip`` are the LLaVAs' and InstructBLIP's vision towers. (The paper scores with the
# CLIP LLaVA sees through; at this size one CLIP cannot do both: trained to judge sentences, its ViT left
# the base models blind, POPE accuracy 0.5 -- docs/miniworld.md. ASPO-S's scorers are made beside the
# world, on demand: ``caption_clip.py``, ``judge_trained.py``.)
CLIPS = {
    "clip": ClipConfig(),
    "eva-clip": ClipConfig(no_ln_pre=True, objective="judged"),
}


def tiny_clip(clip: ClipConfig) -> ClipConfig:
    """A CLIP of the tiny world of the tests: a few steps on small batches."""
    return dataclasses.replace(clip, steps=3, batch_size=16, warmup_steps=1)

# Pixel noise on every image (render.add_grain): without it the models read the SeVa pipeline's noise in
# empty cells as objects, and the rejected answers differed from the chosen mainly in how many objects
# they claimed (docs/miniworld.md, "Measuring the preference data").
GRAIN = 16.0

FULL = WorldConfig(
    size="full",
    data=DataConfig(
        sft_scenes=2500, pool_scenes=2000, bench_scenes=240,
        pope_images=60, shr_items=150, gqa_items=300, mmb_items=150, grain=GRAIN,
    ),
    # A cold build's workers take them in this order once their CLIPs are built (build._jobs: what the
    # order of the jobs costs at the end of a cold build).
    models=(
        BaseModelRecipe("mini-llava-m", "llava", LLAVA_M, SftConfig(grounding_steps=500, steps=1100), "clip",
                        seed_offset=2),
        BaseModelRecipe("mini-instructblip", "instructblip", INSTRUCTBLIP,
                        SftConfig(grounding_steps=600, steps=900, learning_rate=5e-4), "eva-clip", seed_offset=3,
                        # the size by the rule of docs/miniworld.md ("A pretrained Q-Former"): doubling
                        # 8,000 steps gained 0.003 of held-out accuracy; 20,000 scenes were not memorised
                        qformer_pretraining=QformerPretraining(scenes=20000, steps=8000)),
        BaseModelRecipe("mini-llava-s", "llava", LLAVA_S, SftConfig(grounding_steps=500, steps=1100), "clip",
                        seed_offset=1),
    ),
    clips=CLIPS,
    workers=2,
)

TINY_PRETRAINING = QformerPretraining(scenes=16, steps=2, batch_size=4, held_out=8)

TINY = WorldConfig(
    size="tiny",
    data=DataConfig(
        sft_scenes=24, pool_scenes=12, bench_scenes=8,
        pope_images=4, shr_items=4, gqa_items=6, mmb_items=4, grain=GRAIN,
    ),
    models=tuple(
        dataclasses.replace(recipe, sft=SftConfig(grounding_steps=2, steps=2, batch_size=8, warmup_steps=1),
                            qformer_pretraining=recipe.qformer_pretraining and TINY_PRETRAINING)
        for recipe in FULL.models
    ),
    clips={name: tiny_clip(clip) for name, clip in CLIPS.items()},
)

PRESETS = {"full": FULL, "tiny": TINY}


def world_config(size: str) -> WorldConfig:
    try:
        return PRESETS[size]
    except KeyError:
        raise unknown_name("world size", size, PRESETS) from None
