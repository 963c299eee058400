"""ASPO's named choices (``docs/aspo-math.md``): how the normaliser c of Eq. 12 is formed
(``norm``), whose log-probs give the perplexity weight (``ppl_source``) and what scores a sentence
for the similarity weight (``scorer``: ``SCORER_KINDS``, asked by ``training/similarity.py``; the mini
world's own scorers are ``WORLD_SCORERS``).

Each is a registry, name -> function: ``aspo_repro.methods`` refuses an option that is not one of
its names, and ``aspo_repro.losses.aspo`` calls the function the name maps to. A new choice is one
entry here. torch is imported inside the functions so that the method registry, which reads only the
names, stays free of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor

    from aspo_repro.losses.common import ResponseLogps

C_RANGE = (0.5, 1.0)  # the range c has whenever the sentence rewards share a sign
C_EPSILON = 1e-8

# Every normaliser maps (B, K) unit rewards, weighted unit rewards (1 + w_i) r_i, scales 1 + w_i and
# the mask of real units to c per row, (B,).
Normaliser = Callable[["Tensor", "Tensor", "Tensor", "Tensor", bool], "Tensor"]


def reward_ratio(rewards: Tensor, weighted_rewards: Tensor, scale: Tensor, unit_mask: Tensor,
                 clamp_c: bool = True) -> Tensor:
    """c = R_c / R*_c; 1 where |R*_c| < eps (a fresh adapter: every r_i = 0), clamped to ``C_RANGE``."""
    import torch

    reward = rewards.sum(-1)
    weighted = weighted_rewards.sum(-1)
    c = torch.where(weighted.abs() >= C_EPSILON, reward / weighted, 1.0)
    if clamp_c:
        c = c.clamp(*C_RANGE)
    return c


def weight_mean(rewards: Tensor, weighted_rewards: Tensor, scale: Tensor, unit_mask: Tensor,
                clamp_c: bool = True) -> Tensor:
    """c = K / sum_i (1 + w_i)."""
    import torch

    units = unit_mask.sum(-1).float()
    total = torch.where(unit_mask, scale, torch.zeros_like(scale)).sum(-1)
    return torch.where(total > 0, units / total.clamp(min=1e-12), torch.ones_like(total))


def no_normaliser(rewards: Tensor, weighted_rewards: Tensor, scale: Tensor, unit_mask: Tensor,
                  clamp_c: bool = True) -> Tensor:
    """c = 1."""
    import torch

    return torch.ones(rewards.shape[0], device=rewards.device)


NORMALISERS: dict[str, Normaliser] = {
    "reward_ratio": reward_ratio,
    "weight_mean": weight_mean,
    "none": no_normaliser,
}

# Whose per-token log-probs of the chosen response the perplexity weight is computed from.
PERPLEXITY_SOURCES: dict[str, Callable[[ResponseLogps], Tensor]] = {
    "policy": lambda chosen: chosen.policy,
    "reference": lambda chosen: chosen.reference,
}


@dataclass(frozen=True)
class WorldScorer:
    """A sentence scorer of the mini world: a CLIP checkpoint made from the built world."""

    name: str
    title: str  # what it is called in messages ("the world's caption scorer")
    checkpoint: Callable[[Any], Path]  # its directory for a built world, made there on first use
    built: Callable[[Any], bool]  # whether a world (built or not) has it already, without making it
    # Made beside the world's stages while the world is built: ``make(world, progress, position)``, a
    # module-level function (``build.Beside``); None: made by ``checkpoint`` where first asked for
    made_beside_world: Callable[[Any, bool, int], object] | None = None


def _caption_scorer(world, progress: bool = True, position: int = 0) -> Path:
    from aspo_repro.miniworld.caption_clip import ensure_caption_scorer

    return ensure_caption_scorer(world, progress=progress, position=position)


def _caption_scorer_built(world) -> bool:
    from aspo_repro.miniworld.caption_clip import caption_scorer_built

    return caption_scorer_built(world)


def _judge_trained_scorer(world, progress: bool = True, position: int = 0) -> Path:
    from aspo_repro.miniworld.judge_trained import ensure_judge_trained_scorer

    return ensure_judge_trained_scorer(world, progress=progress, position=position)


def _judge_trained_scorer_built(world) -> bool:
    from aspo_repro.miniworld.judge_trained import judge_trained_scorer_built

    return judge_trained_scorer_built(world)


WORLD_SCORERS: dict[str, WorldScorer] = {scorer.name: scorer for scorer in (
    WorldScorer("captions", "caption scorer", _caption_scorer, _caption_scorer_built, _caption_scorer),
    WorldScorer("judge-trained", "judge-trained scorer", _judge_trained_scorer, _judge_trained_scorer_built,
                _judge_trained_scorer),
)}
# The world scorer that scores the mini preference data, as the paper's data is scored with an
# off-the-shelf CLIP that never saw a hallucination label: the caption scorer (docs/scorer.md).
DATA_SCORER = "captions"


@dataclass(frozen=True)
class ScorerKind:
    """What scores a sentence against its image for the similarity weight (the ``scorer`` option)."""

    name: str
    description: str
    # The world scorer (``WORLD_SCORERS``) that scores every chosen sentence again, from the mini world
    # the data was made in; None: the similarities the data holds (or, for the judge, its verdicts).
    rescores_with: str | None = None

    @property
    def world_scorer(self) -> WorldScorer | None:
        return WORLD_SCORERS[self.rescores_with] if self.rescores_with else None


SCORER_KINDS: dict[str, ScorerKind] = {kind.name: kind for kind in (
    ScorerKind("clip", "the CLIP the data was scored with: the paper's ViT-L-14-336; in the mini world (the mini "
                       "profile) its caption scorer, trained as CLIP is trained (CLIP's loss on the world's images "
                       "and their own captions), never on a verdict (docs/scorer.md)"),
    ScorerKind("judge", "the mini world's exact verdicts, 1 correct, 0 hallucinated (aspo-oracle)"),
    ScorerKind("judge-trained", "the mini world's judge-trained scorer (miniworld/judge_trained.py: CLIP's loss told the exact "
                                "judge's verdicts, hard negatives from the judge's error kinds), scoring every "
                                "chosen sentence again: a labelled variant, never the default (docs/scorer.md)",
               rescores_with="judge-trained"),
)}
