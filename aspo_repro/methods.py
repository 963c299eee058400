"""The method registry: each preference-optimisation method is one small record.

A method names its loss (``dpo`` or ``aspo``) and the options that loss takes. A new variant is
one ``register(...)`` call; an ablation of an existing one is ``get_method(name, alpha=...)``.
The options follow ``shared/design/aspo-math.md``:

- granularity: the unit a chosen response is split into (``sentence``, ``token``, ``response``);
- alpha: the balance of the similarity and perplexity weights (Eq. 10), 1 = ASPO-S, 0 = ASPO-P;
- norm: how the normaliser c of Eq. 12 is formed (``reward_ratio``, ``weight_mean``, ``none``);
- ppl_source: whose log-probs give the perplexity weight (``policy``, detached, or ``reference``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from aspo_repro.errors import UserError, unknown_name

LOSSES = ("dpo", "aspo")
GRANULARITIES = ("sentence", "token", "response")
NORMS = ("reward_ratio", "weight_mean", "none")
PPL_SOURCES = ("policy", "reference")


@dataclass(frozen=True)
class Method:
    name: str
    loss: str
    description: str
    granularity: str = "response"
    alpha: float | None = None
    norm: str = "reward_ratio"
    ppl_source: str = "policy"
    clamp_c: bool = True
    beta: float = 0.1

    def __post_init__(self) -> None:
        validate(self)

    @property
    def uses_similarity(self) -> bool:
        """Whether the loss needs CLIP similarities of the chosen units (alpha > 0)."""
        return self.loss == "aspo" and bool(self.alpha)

    @property
    def uses_perplexity(self) -> bool:
        return self.loss == "aspo" and self.alpha is not None and self.alpha < 1

    def with_options(self, **options: object) -> Method:
        """A copy with some options changed, validated; ``name`` records the change."""
        options = {key: value for key, value in options.items() if value is not None}
        if not options:
            return self
        unknown = set(options) - {f.name for f in dataclasses.fields(self)} - {"name"}
        if unknown:
            raise UserError(f"unknown method option(s): {', '.join(sorted(unknown))}")
        changed = {k: v for k, v in options.items() if getattr(self, k) != v}
        if not changed:
            return self
        suffix = ",".join(f"{k}={v}" for k, v in sorted(changed.items()))
        return dataclasses.replace(self, name=f"{self.name}[{suffix}]", **changed)

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def validate(method: Method) -> None:
    def check(value: object, allowed: tuple[str, ...], what: str) -> None:
        if value not in allowed:
            raise UserError(f"{what} must be one of {', '.join(allowed)}; got {value!r}")

    check(method.loss, LOSSES, "loss")
    check(method.granularity, GRANULARITIES, "granularity")
    check(method.norm, NORMS, "norm")
    check(method.ppl_source, PPL_SOURCES, "ppl_source")
    if method.loss == "aspo":
        if method.alpha is None:
            raise UserError(f"method {method.name!r}: an ASPO method needs alpha in [0, 1]")
        if isinstance(method.alpha, bool) or not isinstance(method.alpha, (int, float)):
            raise UserError(f"alpha must be a number in [0, 1]; got {method.alpha!r}")
        if not 0.0 <= float(method.alpha) <= 1.0:
            raise UserError(f"alpha must lie in [0, 1]; got {method.alpha}")
    elif method.alpha is not None:
        raise UserError(f"method {method.name!r}: alpha applies to ASPO methods only")
    if not method.beta > 0:
        raise UserError(f"beta must be positive; got {method.beta}")


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
register(Method("aspo", "aspo", "ASPO-S+P: sentence rewards reweighted by CLIP similarity and perplexity, alpha 0.5 (Eq. 10-13).", granularity="sentence", alpha=0.5))
register(Method("aspo-s", "aspo", "ASPO-S: sentence weights from image-text similarity only (Table 5).", granularity="sentence", alpha=1.0))
register(Method("aspo-p", "aspo", "ASPO-P: sentence weights from perplexity only (Table 5).", granularity="sentence", alpha=0.0))
register(Method("aspo-response", "aspo", "Granularity ablation: each chosen response is one unit, weights min-max normalised across the micro-batch (Table 6).", granularity="response", alpha=0.5))
register(Method("aspo-token", "aspo", "Granularity ablation: each chosen token is a unit, perplexity 1/p (Table 6).", granularity="token", alpha=0.5))
