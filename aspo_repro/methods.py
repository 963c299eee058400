"""The method registry: each preference-optimisation method is one small record.

A method names its loss kind (``LOSS_KINDS``: ``dpo`` or ``aspo``) and the options that loss
takes. Code that trains a method asks it what it needs (``uses_units``, ``uses_similarity``,
``logs_unit_weights``, ``aspo_options``), never compares its name. A new variant is one
``register(...)`` call; an ablation of an existing one is ``get_method(name, alpha=...)``.
The options follow ``docs/aspo-math.md``:

- granularity: the unit a chosen response is split into (``sentence``, ``token``, ``response``);
- alpha: the balance of the similarity and perplexity weights (Eq. 10), 1 = ASPO-S, 0 = ASPO-P;
- norm: how the normaliser c of Eq. 12 is formed (``reward_ratio``, ``weight_mean``, ``none``);
- ppl_source: whose log-probs give the perplexity weight (``policy``, detached, or ``reference``);
- scorer: what scores a sentence against its image for the similarity weight: ``clip``, the CLIP the
  data was scored with (the paper's; in the mini world its caption scorer, trained as CLIP is
  trained), or ``judge``, the mini world's exact verdicts (1 correct, 0 hallucinated or unjudgeable),
  which only mini preference data holds: ``aspo-oracle``, the upper bound of sentence-level weighting.
  ``judge-trained`` (mini only): the world's scorer trained on the judge's verdicts, which scores
  every chosen sentence again, a labelled variant (``aspo_choices.SCORER_KINDS``, docs/scorer.md).
- verdict_flip (with ``scorer=judge`` only): the share of the judge's verdicts flipped before they
  become weights, the same sentences at every seed, so that the weights' within-answer AUC is about
  1 - verdict_flip: the noisy oracles of the weight-quality figure (docs/miniworld.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from aspo_repro.aspo_choices import NORMALISERS, PERPLEXITY_SOURCES, SCORER_KINDS
from aspo_repro.errors import UserError, unknown_name

NORMS = tuple(NORMALISERS)
PPL_SOURCES = tuple(PERPLEXITY_SOURCES)
SCORERS = tuple(SCORER_KINDS)
ASPO_OPTIONS = ("granularity", "alpha", "norm", "ppl_source", "clamp_c", "scorer", "verdict_flip")
COMMON_OPTIONS = ("beta", "learning_rate")  # read by every method, whatever its loss


@dataclass(frozen=True)
class Granularity:
    """A kind of unit a chosen response is split into, and what that means for the pipeline."""

    name: str
    within_response: bool  # units split one response; else each response is a unit of the micro-batch
    stored_in_data: bool  # the SeVa data holds a CLIP similarity per unit of this kind


GRANULARITIES = {
    unit.name: unit
    for unit in (
        Granularity("sentence", within_response=True, stored_in_data=True),
        Granularity("token", within_response=True, stored_in_data=False),
        Granularity("response", within_response=False, stored_in_data=False),
    )
}


@dataclass(frozen=True)
class LossKind:
    """A loss family: which method options it takes and what the training core must give it.

    The trainer, collator and CLI ask these questions; ``aspo_repro.losses.dispatch`` maps each
    kind's name to its loss function. A new family is one entry here and one there.
    """

    name: str
    options: tuple[str, ...]  # the Method fields it reads besides beta; the others must stay unset
    uses_units: bool  # reads the unit of every chosen token (the collator must provide unit ids)
    logs_unit_weights: bool  # logs unit weights (mean, min, max) and c each step
    # the granularity of a method of this kind that names none (a loss without units rewards whole responses)
    granularity: str = "response"


LOSS_KINDS = {
    kind.name: kind
    for kind in (
        LossKind("dpo", options=(), uses_units=False, logs_unit_weights=False),
        LossKind("aspo", options=ASPO_OPTIONS, uses_units=True, logs_unit_weights=True, granularity="sentence"),
    )
}
LOSSES = tuple(LOSS_KINDS)
# every option a method name (``aspo[alpha=0.25]``) or a training config's ``method_options`` may set
METHOD_OPTIONS = (*dict.fromkeys(option for kind in LOSS_KINDS.values() for option in kind.options), *COMMON_OPTIONS)


@dataclass(frozen=True)
class AspoOptions:
    """ASPO's options as its loss takes them (``aspo_repro.losses.aspo_loss``); the defaults are the
    paper's ASPO-S+P, and those of every ASPO method."""

    alpha: float = 0.5
    granularity: str = LOSS_KINDS["aspo"].granularity
    norm: str = "reward_ratio"
    ppl_source: str = "policy"
    clamp_c: bool = True
    scorer: str = "clip"
    verdict_flip: float = 0.0

    def __post_init__(self) -> None:
        _check(self.granularity, tuple(GRANULARITIES), "granularity")
        _check(self.norm, NORMS, "norm")
        _check(self.ppl_source, PPL_SOURCES, "ppl_source")
        _check(self.scorer, SCORERS, "scorer")
        if self.scorer == "judge" and (self.granularity != "sentence" or self.alpha != 1):
            raise UserError("the judge scores sentences: scorer=judge needs granularity sentence and alpha 1")
        object.__setattr__(self, "alpha", _share(self.alpha, "alpha"))
        object.__setattr__(self, "verdict_flip", _share(self.verdict_flip, "verdict_flip"))
        if self.verdict_flip and self.scorer != "judge":
            raise UserError("verdict_flip flips the judge's verdicts: it needs scorer=judge")

    @property
    def unit(self) -> Granularity:
        return GRANULARITIES[self.granularity]

    @property
    def uses_similarity(self) -> bool:
        """The similarity weight has a share (alpha > 0, Eq. 10)."""
        return self.alpha > 0

    @property
    def uses_perplexity(self) -> bool:
        return self.alpha < 1


@dataclass(frozen=True)
class Method:
    name: str
    loss: str
    description: str
    granularity: str | None = None  # None: its loss kind's
    alpha: float | None = None  # None: AspoOptions' for a loss that takes alpha; a loss that takes none keeps None
    norm: str = AspoOptions.norm
    ppl_source: str = AspoOptions.ppl_source
    clamp_c: bool = AspoOptions.clamp_c
    scorer: str = AspoOptions.scorer
    verdict_flip: float = AspoOptions.verdict_flip
    beta: float = 0.1
    # The run's learning rate when the method name sets one (``dpo[learning_rate=2e-05]``, the
    # learning-rate sweep); None: the training config's, else the model registry's.
    learning_rate: float | None = None

    def __post_init__(self) -> None:
        _check(self.loss, LOSSES, "loss")
        if self.granularity is None:
            object.__setattr__(self, "granularity", self.kind.granularity)
        if self.alpha is None and self.takes("alpha"):
            object.__setattr__(self, "alpha", AspoOptions.alpha)
        validate(self)

    @property
    def kind(self) -> LossKind:
        return LOSS_KINDS[self.loss]

    @property
    def aspo_options(self) -> AspoOptions | None:
        """The options of an ASPO-family loss as one object; None for a loss that takes none."""
        if "alpha" not in self.kind.options:
            return None
        return AspoOptions(**{option: getattr(self, option) for option in ASPO_OPTIONS})

    def takes(self, option: str) -> bool:
        """Whether this method reads ``option`` (``beta`` and ``learning_rate`` are read by every method)."""
        return option in COMMON_OPTIONS or option in self.kind.options

    @property
    def uses_units(self) -> bool:
        """Whether the loss reads the unit of each chosen token (the collator provides unit ids)."""
        return self.kind.uses_units

    @property
    def unit(self) -> Granularity | None:
        """The kind of unit the loss weights; None for a loss without units."""
        return GRANULARITIES[self.granularity] if self.uses_units else None

    @property
    def units_within_response(self) -> bool:
        """Whether each chosen response is split into several units (sentences, tokens)."""
        return self.unit is not None and self.unit.within_response

    @property
    def logs_unit_weights(self) -> bool:
        return self.kind.logs_unit_weights

    @property
    def uses_similarity(self) -> bool:
        """Whether the loss needs CLIP similarities of the chosen units (alpha > 0)."""
        options = self.aspo_options
        return options is not None and options.uses_similarity

    @property
    def uses_perplexity(self) -> bool:
        options = self.aspo_options
        return options is not None and options.uses_perplexity

    @property
    def uses_judge(self) -> bool:
        """Whether the similarity weight comes from the mini world's exact verdicts (the oracle)."""
        options = self.aspo_options
        return options is not None and options.uses_similarity and options.scorer == "judge"

    @property
    def rescorer(self) -> str | None:
        """The world scorer (``WORLD_SCORERS``) that scores every chosen sentence again for it
        (``scorer=judge-trained``), whatever the data holds; None where it weights by the data's similarities."""
        return SCORER_KINDS[self.scorer].rescores_with if self.uses_similarity else None

    @property
    def recomputes_similarity(self) -> bool:
        """Whether its scorer scores every chosen sentence again (``scorer=judge-trained``), whatever the data holds."""
        return self.rescorer is not None

    def with_options(self, **options: object) -> Method:
        """A copy with some options changed, validated; ``name`` records the change."""
        options = {key: value for key, value in options.items() if value is not None}
        if not options:
            return self
        unknown = set(options) - set(METHOD_OPTIONS)
        if unknown:
            raise UserError(f"unknown method option(s): {', '.join(sorted(unknown))}; allowed: {', '.join(METHOD_OPTIONS)}")
        changed = {k: v for k, v in options.items() if getattr(self, k) != v}
        if not changed:
            return self
        unread = [k for k in changed if not self.takes(k)]
        if unread:
            raise UserError(f"method {self.name!r} does not read {', '.join(sorted(unread))} "
                            f"(its {self.loss} loss reads {', '.join(self.kind.options) or 'no option'} besides "
                            f"{', '.join(COMMON_OPTIONS)})")
        suffix = ",".join(f"{k}={v}" for k, v in sorted(changed.items()))
        return dataclasses.replace(self, name=f"{self.name}[{suffix}]", **changed)

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def _share(value: object, what: str) -> float:
    """A number in [0, 1], as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{what} must be a number in [0, 1]; got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise UserError(f"{what} must lie in [0, 1]; got {value}")
    return float(value)


def _check(value: object, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise UserError(f"{what} must be one of {', '.join(allowed)}; got {value!r}")


def validate(method: Method) -> None:
    _check(method.granularity, tuple(GRANULARITIES), "granularity")
    _check(method.norm, NORMS, "norm")
    _check(method.ppl_source, PPL_SOURCES, "ppl_source")
    _check(method.scorer, SCORERS, "scorer")
    if method.takes("alpha"):
        _ = method.aspo_options  # validates the options together
    elif method.alpha is not None:
        raise UserError(f"method {method.name!r}: alpha applies to ASPO methods only")
    if not method.beta > 0:
        raise UserError(f"beta must be positive; got {method.beta}")
    if method.learning_rate is not None and (isinstance(method.learning_rate, bool)
                                             or not isinstance(method.learning_rate, (int, float))
                                             or not method.learning_rate > 0):
        raise UserError(f"learning_rate must be a positive number; got {method.learning_rate!r}")


_REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    if method.name in _REGISTRY:
        raise ValueError(f"method {method.name!r} is already registered")
    _REGISTRY[method.name] = method
    return method


def get_method(name: str, **options: object) -> Method:
    """The registered method ``name``, with any options overridden (and validated)."""
    try:
        method = _REGISTRY[name]
    except KeyError:
        raise unknown_name("method", name, _REGISTRY) from None
    return method.with_options(**options)


def method_names() -> list[str]:
    return list(_REGISTRY)


def all_methods() -> list[Method]:
    return list(_REGISTRY.values())


register(Method("dpo", "dpo", "Direct Preference Optimization: one sigmoid loss on the response-level implicit reward margin (Eq. 5, 11)."))
register(Method("aspo", "aspo", "ASPO-S+P: sentence rewards reweighted by CLIP similarity and perplexity, alpha 0.5 (Eq. 10-13)."))
register(Method("aspo-s", "aspo", "ASPO-S: sentence weights from image-text similarity only (Table 5).", alpha=1.0))
register(Method("aspo-p", "aspo", "ASPO-P: sentence weights from perplexity only (Table 5).", alpha=0.0))
register(Method("aspo-response", "aspo", "Granularity ablation: each chosen response is one unit, weights min-max normalised across the micro-batch (Table 6).", granularity="response"))
register(Method("aspo-token", "aspo", "Granularity ablation: each chosen token is a unit, perplexity 1/p (Table 6).", granularity="token"))
register(Method("aspo-oracle", "aspo", "Upper bound (mini profile only): ASPO-S with the exact judge's verdicts as sentence weights, 1 correct, 0 hallucinated.", alpha=1.0, scorer="judge"))
