"""``prefs diagnose``: does a mini preference dataset carry the signal ASPO relies on?

In the mini world every chosen sentence has an exact verdict (``miniworld.judge``), so three
questions the paper cannot ask are measured here:

- do chosen and rejected differ in what they hallucinate, or mainly in length and in how many
  objects they claim (the confounds)?
- do ASPO's similarity weights S^ (Eq. 6-7, ``weights.similarity_weights``) tell the chosen
  answers' correct sentences from their hallucinated ones? As an AUC: the chance that a correct
  sentence outweighs a hallucinated one (ties count half; 0.5 is no signal), with a 95% bootstrap
  interval over pairs;
- what gradient scale c(1 + w_i) each class gets (Eq. 10-13), assuming every token of an answer
  carries the same reward, so that c = sum n_i / sum (1 + w_i) n_i over an answer's sentences of
  n_i words, clamped to [0.5, 1] as the loss clamps it. (The loss takes c over a micro-batch and
  from the rewards the policy has; this is the scale at equal rewards, per answer.)

The perplexity weight P^ needs the model's log-probs and is not measured here yet.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

BOOTSTRAP_SAMPLES = 1000
CLAMP = (0.5, 1.0)  # c's range (aspo-math: the range it has when the sentence rewards share a sign)


@dataclass(frozen=True)
class ChosenSentence:
    pair: int  # the row of the pair
    words: int
    similarity: float
    weight: float  # S^, min-max normalised within its answer
    hallucinated: bool


def diagnose(directory: str | Path, world=None, *, seed: int = 0) -> dict[str, Any]:
    """The diagnosis of the mini preference dataset in ``directory`` (its world built or reused
    from the settings its manifest records, unless ``world`` is given)."""
    from aspo_repro.errors import UserError
    from aspo_repro.training.preferences import open_preferences

    opened = open_preferences(directory)
    world_settings = (opened.manifest.get("settings") or {}).get("world")
    if world is None and not world_settings:
        raise UserError(f"{directory} was not built from the mini world: only mini preference data has the "
                        "ground truth a diagnosis needs")
    world = world or _world(world_settings)
    scene_of = _scene_lookup(world)
    rows = opened.dataset.remove_columns([c for c in ("images",) if c in opened.dataset.column_names]).to_list()
    sentences, sides = [], {"chosen": [], "rejected": []}
    for index, row in enumerate(rows):
        scene = scene_of(str(row["id"]))
        sentences.extend(chosen_sentences(index, row, scene))
        for side in sides:
            sides[side].append(answer_profile(row[side], scene))
    from aspo_repro.provenance import provenance

    return {
        "directory": str(directory),
        "data_fingerprint": opened.manifest.get("fingerprint"),
        "pairs": len(rows),
        "judge": "aspo_repro.miniworld.judge (exact rules against the scene)",
        "answers": {side: summarise_answers(profiles) for side, profiles in sides.items()},
        "confounds": confounds(sides["chosen"], sides["rejected"]),
        "similarity_weight": weight_diagnosis(sentences, seed=seed),
        "provenance": provenance(),
    }


def _world(settings: dict[str, Any]):
    from aspo_repro.miniworld import obtain_world

    return obtain_world(seed=settings["seed"], size=settings["size"], progress=False)


def _scene_lookup(world):
    """The scene of an instruction id, through the world's instruction records and their images."""
    scenes = {scene.id: scene for split in ("pool", "sft", "bench") for scene in world.scenes(split)}
    records = json.loads(Path(world.instructions_json).read_text(encoding="utf-8"))
    image_of = {str(record["id"]): Path(record["image"]).stem for record in records}
    return lambda instruction_id: scenes[image_of[instruction_id]]


def chosen_sentences(index: int, row: dict[str, Any], scene) -> list[ChosenSentence]:
    """The judged sentences of a pair's chosen answer with their similarity and weight S^."""
    import torch

    from aspo_repro.miniworld.judge import judge_sentence_verdict
    from aspo_repro.weights import similarity_weights

    spans = row.get("chosen_sentence_spans") or []
    similarity = [float(v) for v in (row.get("chosen_sentence_similarity") or [])]
    if not spans or len(similarity) != len(spans):
        return []
    weights = similarity_weights(torch.tensor([similarity]), torch.ones(1, len(similarity), dtype=torch.bool))[0]
    found = []
    for (start, end), value, weight in zip(spans, similarity, weights.tolist()):
        text = row["chosen"][start:end]
        verdict = judge_sentence_verdict(text, scene)
        if verdict.hallucinated is not None:
            found.append(ChosenSentence(index, len(text.split()), value, weight, bool(verdict.hallucinated)))
    return found


@dataclass(frozen=True)
class AnswerProfile:
    sentences: int
    words: int
    judged: int
    hallucinated: int
    claimed_count: int | None  # the number of objects a count sentence claims ("There are three ...")
    object_sentences: int  # sentences naming one object


def answer_profile(text: str, scene) -> AnswerProfile:
    from aspo_repro.miniworld.grammar import parse_sentence
    from aspo_repro.miniworld.judge import judge_sentence_verdict
    from aspo_repro.segmentation import split_sentences

    parts = split_sentences(text)
    verdicts = [judge_sentence_verdict(part, scene) for part in parts]
    claims = [parse_sentence(part) for part in parts]
    counts = [claim.count for claim in claims if claim is not None and claim.kind == "count"]
    return AnswerProfile(
        sentences=len(parts), words=len(text.split()),
        judged=sum(v.hallucinated is not None for v in verdicts), hallucinated=sum(bool(v.hallucinated) for v in verdicts),
        claimed_count=counts[0] if counts else None,
        object_sentences=sum(claim is not None and claim.kind == "object" for claim in claims),
    )


def summarise_answers(profiles: Sequence[AnswerProfile]) -> dict[str, Any]:
    judged = sum(p.judged for p in profiles)
    return {
        "answers": len(profiles),
        "sentences_per_answer": _mean([p.sentences for p in profiles]),
        "words_per_answer": _mean([p.words for p in profiles]),
        "judged_sentences": judged,
        "hallucinated_sentences": sum(p.hallucinated for p in profiles),
        "sentence_hallucination_rate": sum(p.hallucinated for p in profiles) / judged if judged else None,
        "hallucinated_per_answer": _mean([p.hallucinated for p in profiles]),
        "correct_per_answer": _mean([p.judged - p.hallucinated for p in profiles]),
        "object_sentences_per_answer": _mean([p.object_sentences for p in profiles]),
    }


def confounds(chosen: Sequence[AnswerProfile], rejected: Sequence[AnswerProfile]) -> dict[str, Any]:
    """Per pair, which side is longer, claims more objects, and hallucinates more sentences."""
    def tally(key) -> dict[str, int]:
        counts = {"rejected_more": 0, "chosen_more": 0, "equal": 0, "not_comparable": 0}
        for c, r in zip(chosen, rejected):
            a, b = key(c), key(r)
            counts["not_comparable" if a is None or b is None else
                   "rejected_more" if b > a else "chosen_more" if a > b else "equal"] += 1
        return counts

    return {
        "hallucinated_sentences": tally(lambda p: p.hallucinated),
        "sentences": tally(lambda p: p.sentences),
        "words": tally(lambda p: p.words),
        "claimed_count": tally(lambda p: p.claimed_count),
        "object_sentences": tally(lambda p: p.object_sentences),
    }


def weight_diagnosis(sentences: Sequence[ChosenSentence], *, seed: int = 0) -> dict[str, Any]:
    correct = [s for s in sentences if not s.hallucinated]
    hallucinated = [s for s in sentences if s.hallucinated]
    scale = gradient_scales(sentences)
    return {
        "sentences": {"correct": len(correct), "hallucinated": len(hallucinated)},
        "auc": auc_with_interval(sentences, lambda s: s.weight, seed=seed),
        "auc_raw_similarity": auc_with_interval(sentences, lambda s: s.similarity, seed=seed),
        "mean_weight": {"correct": _mean([s.weight for s in correct]),
                        "hallucinated": _mean([s.weight for s in hallucinated])},
        "gradient_scale": {"correct": _mean([scale[i] for i, s in enumerate(sentences) if not s.hallucinated]),
                           "hallucinated": _mean([scale[i] for i, s in enumerate(sentences) if s.hallucinated]),
                           "clamped_share": _clamped_share(sentences)},
    }


def auc(scores: Sequence[float], hallucinated: Sequence[bool]) -> float | None:
    """P(a correct sentence scores above a hallucinated one), ties counting half; None without both classes."""
    from sklearn.metrics import roc_auc_score

    correct = ~np.asarray(hallucinated, dtype=bool)
    if correct.all() or not correct.any():
        return None
    return float(roc_auc_score(correct, np.asarray(scores, dtype=float)))


def auc_with_interval(sentences: Sequence[ChosenSentence], score, *, seed: int = 0) -> dict[str, Any]:
    """The AUC of ``score`` and its 95% percentile interval, resampling pairs (their sentences go together)."""
    values = np.array([score(s) for s in sentences], dtype=float)
    labels = np.array([s.hallucinated for s in sentences], dtype=bool)
    pairs = np.array([s.pair for s in sentences])
    point = auc(values, labels)
    if point is None:
        return {"value": None, "ci95": None}
    unique = np.unique(pairs)
    members = {pair: np.flatnonzero(pairs == pair) for pair in unique}
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(BOOTSTRAP_SAMPLES):
        chosen = np.concatenate([members[p] for p in rng.choice(unique, size=len(unique))])
        value = auc(values[chosen], labels[chosen])
        if value is not None:
            draws.append(value)
    low, high = np.percentile(draws, [2.5, 97.5])
    return {"value": round(point, 4), "ci95": [round(float(low), 4), round(float(high), 4)]}


def gradient_scales(sentences: Sequence[ChosenSentence]) -> list[float]:
    """c (1 + w_i) per sentence, c per answer at equal per-token rewards (see the module docstring)."""
    scales = [0.0] * len(sentences)
    for pair in {s.pair for s in sentences}:
        indices = [i for i, s in enumerate(sentences) if s.pair == pair]
        plain = sum(sentences[i].words for i in indices)
        weighted = sum((1 + sentences[i].weight) * sentences[i].words for i in indices)
        c = min(max(plain / weighted, CLAMP[0]), CLAMP[1]) if weighted > 0 else 1.0
        for i in indices:
            scales[i] = c * (1 + sentences[i].weight)
    return scales


def _clamped_share(sentences: Sequence[ChosenSentence]) -> float | None:
    """The share of answers whose c sits at the lower clamp."""
    answers = {s.pair for s in sentences}
    clamped = 0
    for pair in answers:
        members = [s for s in sentences if s.pair == pair]
        weighted = sum((1 + s.weight) * s.words for s in members)
        clamped += weighted > 0 and sum(s.words for s in members) / weighted < CLAMP[0]
    return clamped / len(answers) if answers else None


def _mean(values: Sequence[float]) -> float | None:
    return round(float(np.mean(values)), 4) if len(values) else None


def format_diagnosis(report: dict[str, Any]) -> str:
    chosen, rejected = report["answers"]["chosen"], report["answers"]["rejected"]
    weight = report["similarity_weight"]

    def rate(side):
        value = side["sentence_hallucination_rate"]
        return "-" if value is None else f"{100 * value:.1f}%"

    lines = [f"{report['directory']}: {report['pairs']} pairs, judged by {report['judge']}",
             f"{'':28} {'chosen':>10} {'rejected':>10}",
             f"{'hallucinated sentences':28} {rate(chosen):>10} {rate(rejected):>10}"]
    for key, label in (("correct_per_answer", "correct per answer"), ("hallucinated_per_answer", "hallucinated per answer"),
                       ("sentences_per_answer", "sentences per answer"), ("words_per_answer", "words per answer"),
                       ("object_sentences_per_answer", "object sentences per answer")):
        lines.append(f"{label:28} {_number(chosen[key]):>10} {_number(rejected[key]):>10}")
    lines.append("pairs where rejected > chosen / chosen > rejected / equal (not comparable):")
    for key, tally in report["confounds"].items():
        lines.append(f"  {key:26} {tally['rejected_more']:>5} / {tally['chosen_more']:>5} / {tally['equal']:>5}"
                     f" ({tally['not_comparable']})")
    lines.append(f"similarity weight S^ on {weight['sentences']['correct']} correct and "
                 f"{weight['sentences']['hallucinated']} hallucinated chosen sentences:")
    for key, label in (("auc", "AUC of S^ (correct above hallucinated)"), ("auc_raw_similarity", "AUC of raw S")):
        value = weight[key]
        interval = "-" if value["value"] is None else f"{value['value']:.3f} [{value['ci95'][0]:.3f}, {value['ci95'][1]:.3f}]"
        lines.append(f"  {label:40} {interval}")
    scale = weight["gradient_scale"]
    lines.append(f"  c(1+w), correct / hallucinated          {_number(scale['correct'])} / {_number(scale['hallucinated'])}"
                 f" (c at its 0.5 clamp in {_number(scale['clamped_share'])} of answers)")
    return "\n".join(lines)


def _number(value) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)
