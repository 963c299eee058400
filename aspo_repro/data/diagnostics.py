"""``prefs diagnose``: does a mini preference dataset carry the signal ASPO relies on?

In the mini world every chosen sentence has an exact verdict (``miniworld.judge``), so three
questions the paper cannot ask are measured here:

- do chosen and rejected differ in what they hallucinate, or mainly in length and in how many
  objects they claim (the confounds)? Among pairs of equal length, which side hallucinates more is
  the signal length cannot explain;
- do ASPO's weights (``weights.adaptive_weights``: S^ of Eq. 6-7, P^ of Eq. 8-9, their mix of
  Eq. 10, for each ASPO method's alpha) tell the chosen answers' correct sentences from their
  hallucinated ones? As an AUC: the chance that a correct sentence outweighs a hallucinated one
  (ties count half; 0.5 is no signal), with a 95% bootstrap interval over pairs, pooled over all
  chosen sentences and within answers (only a correct and a hallucinated sentence of one answer
  compared: what a weight normalised within its answer decides). P^ comes from the base model's
  log-probs of the chosen answer as training formats it (at step 0 the policy is the base model, so
  these are the weights of the first step);
- what gradient scale c(1 + w_i) each class gets (Eq. 10-13), assuming every token of an answer
  carries the same reward, so that c = sum n_i / sum (1 + w_i) n_i over an answer's sentences of
  n_i words: the loss's own normaliser (``losses.aspo.normaliser``, ``reward_ratio``, clamped as the
  loss clamps it). (The loss takes c over a micro-batch and from the rewards the policy has; this is
  the scale at equal rewards, per answer.)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aspo_repro.methods import Method, all_methods
from aspo_repro.miniworld.obtain import recorded_world

BOOTSTRAP_SAMPLES = 1000


def weighted_methods() -> list[Method]:
    """The methods whose weights are measured: every ASPO method weighting the sentences stored in the
    data by what it computes from them (not the judge's verdicts), each signal alone before their mix,
    similarity before perplexity (Table 5's S, P, S+P)."""
    measured = [m for m in all_methods() if m.units_within_response and m.unit.stored_in_data and not m.uses_judge]
    return sorted(measured, key=lambda m: (m.uses_similarity and m.uses_perplexity, m.uses_perplexity))


def weight_label(method: Method) -> str:
    """S, P or S+P: the signals a method's weights mix."""
    return "+".join(signal for used, signal in ((method.uses_similarity, "S"), (method.uses_perplexity, "P")) if used)


def weighted_method_names() -> list[str]:
    return [method.name for method in weighted_methods()]


@dataclass(frozen=True)
class ChosenSentence:
    pair: int  # the row of the pair
    words: int
    similarity: float
    weights: dict[str, float]  # by method: its weight, normalised within the answer
    hallucinated: bool


def diagnose(directory: str | Path, world=None, *, seed: int = 0, perplexity: bool = True,
             scorer=None, scorer_name: str | None = None, other_scorers: dict | None = None) -> dict[str, Any]:
    """The diagnosis of the mini preference dataset in ``directory`` (its world built or reused
    from the settings its manifest records, unless ``world`` is given). ``perplexity``: also the
    weights that need the base model's log-probs (P^, S+P). ``scorer`` (``score(images, sentences)``,
    named ``scorer_name``): the chosen sentences' similarities from it, not the data's.
    ``other_scorers`` (name -> scorer): the weights again with each one's similarities, beside
    (``weights_by_scorer``)."""
    from aspo_repro.errors import UserError
    from aspo_repro.training.preferences import open_preferences

    opened = open_preferences(directory)
    world_settings = (opened.manifest.get("settings") or {}).get("world")
    if world is None and not world_settings:
        raise UserError(f"{directory} was not built from the mini world: only mini preference data has the "
                        "ground truth a diagnosis needs")
    world = world or recorded_world(world_settings)
    scene_of = scene_lookup(world)
    rows = opened.dataset.remove_columns([c for c in ("images",) if c in opened.dataset.column_names]).to_list()
    if scorer is not None:
        rescore_chosen(opened.dataset, rows, scorer)
    nll = sentence_nlls(opened, world) if perplexity else [None] * len(rows)
    scenes = [scene_of(str(row["id"])) for row in rows]
    sides = {side: [answer_profile(row[side], scene) for row, scene in zip(rows, scenes)]
             for side in ("chosen", "rejected")}
    by_scorer = {}
    for name, other in (other_scorers or {}).items():
        rescored = [dict(row) for row in rows]
        rescore_chosen(opened.dataset, rescored, other)
        by_scorer[name] = weight_diagnosis(_all_chosen_sentences(rescored, scenes, nll), seed=seed)
    from aspo_repro.provenance import provenance

    return {
        "directory": str(directory),
        "model": (opened.manifest.get("settings") or {}).get("model"),
        "data_fingerprint": opened.manifest.get("fingerprint"),
        "pairs": len(rows),
        "judge": "aspo_repro.miniworld.judge (exact rules against the scene)",
        "answers": {side: summarise_answers(profiles) for side, profiles in sides.items()},
        "confounds": confounds(sides["chosen"], sides["rejected"]),
        "weights": weight_diagnosis(_all_chosen_sentences(rows, scenes, nll), seed=seed),
        **({"weights_by_scorer": by_scorer} if by_scorer else {}),
        "provenance": provenance(),
        **({"similarity": scorer_name or "a scorer given to diagnose"} if scorer is not None else {}),
    }


def _all_chosen_sentences(rows: list[dict[str, Any]], scenes: list, nll: list) -> list[ChosenSentence]:
    return [sentence for index, (row, scene) in enumerate(zip(rows, scenes))
            for sentence in chosen_sentences(index, row, scene, nll[index])]


def rescore_chosen(dataset, rows: list[dict[str, Any]], scorer) -> None:
    """Replace each row's chosen-sentence similarities by ``scorer``'s, on the row's image."""
    images, sentences = [], []
    for index, row in enumerate(rows):
        spans = row.get("chosen_sentence_spans") or []
        image = dataset[index]["images"][0].convert("RGB") if spans else None
        images += [image] * len(spans)
        sentences += [row["chosen"][start:end] for start, end in spans]
    values = iter(float(v) for v in scorer(images, sentences)) if sentences else iter(())
    for row in rows:
        row["chosen_sentence_similarity"] = [next(values) for _ in row.get("chosen_sentence_spans") or []]


def scene_lookup(world):
    """The scene of an instruction id, through the world's instruction records and their images."""
    from aspo_repro.data.backends import world_scenes

    scenes = world_scenes(world)
    records = json.loads(Path(world.instructions_json).read_text(encoding="utf-8"))
    image_of = {str(record["id"]): Path(record["image"]).stem for record in records}
    return lambda instruction_id: scenes[image_of[instruction_id]]


def chosen_sentences(index: int, row: dict[str, Any], scene, mean_nll: list[float] | None = None) -> list[ChosenSentence]:
    """The judged sentences of a pair's chosen answer with their similarity and each method's weight
    (the weights normalised over all the answer's sentences, as training does)."""
    from aspo_repro.miniworld.judge import judge_sentence_verdict

    spans = row.get("chosen_sentence_spans") or []
    similarity = [float(v) for v in (row.get("chosen_sentence_similarity") or [])]
    if not spans or len(similarity) != len(spans):
        return []
    weights = method_weights(similarity, mean_nll)
    found = []
    for k, ((start, end), value) in enumerate(zip(spans, similarity)):
        text = row["chosen"][start:end]
        verdict = judge_sentence_verdict(text, scene)
        if verdict.hallucinated is not None:
            found.append(ChosenSentence(index, len(text.split()), value, {m: w[k] for m, w in weights.items()},
                                        bool(verdict.hallucinated)))
    return found


def method_weights(similarity: list[float], mean_nll: list[float] | None) -> dict[str, list[float]]:
    """Each ASPO method's sentence weights w_i (Eq. 10 with its alpha); those needing perplexity
    only when ``mean_nll`` is given."""
    import torch

    from aspo_repro.weights import adaptive_weights

    mask = torch.ones(1, len(similarity), dtype=torch.bool)
    nll = torch.tensor([mean_nll]) if mean_nll is not None else None
    weights = {}
    for method in weighted_methods():
        if method.uses_perplexity and nll is None:
            continue
        similarity_tensor = torch.tensor([similarity]) if method.uses_similarity else None
        weights[method.name] = adaptive_weights(method.aspo_options.alpha, mask, similarity_tensor, nll)[0].tolist()
    return weights


NLL_CACHE = "sentence-nlls"  # beside the worlds: every pair's sentence NLLs, by the data's content and model


def sentence_nlls(opened, world, count: int | None = None) -> list[list[float] | None]:
    """Per pair (the first ``count``; None: all), the base model's mean negative log-likelihood of each
    chosen sentence's tokens. Those of every pair are kept beside the world, keyed by the data's files, its
    model and the world, so that the report reads what the diagnosis computed."""
    from aspo_repro.files import read_record, warn
    from aspo_repro.miniworld.cache import beside_world
    from aspo_repro.storage import atomic_write_json, sha256_tree, stable_hash

    key = stable_hash({"data": sha256_tree(opened.directory), "world": world.root.name,
                       "model": (opened.manifest.get("settings") or {}).get("model")})
    cache = beside_world(world, NLL_CACHE, f"{key}.json")
    stored = (read_record(cache, "kept sentence NLLs", warn) or {}).get("nlls")
    if isinstance(stored, list) and len(stored) == len(opened.dataset):
        return stored[:count]
    whole = count is None or count >= len(opened.dataset)
    found = compute_sentence_nlls(opened.manifest, opened.dataset if whole else opened.dataset.select(range(count)),
                                  world)
    if whole:
        atomic_write_json(cache, {"nlls": found})
    return found


def compute_sentence_nlls(manifest: dict, dataset, world) -> list[list[float] | None]:
    """``sentence_nlls`` computed: the chosen answer formatted and its tokens mapped to sentences as
    training does."""
    import torch
    from tqdm.auto import tqdm

    from aspo_repro.models import get_model_spec, load_model_and_processor
    from aspo_repro.segmentation import units_from_offsets
    from aspo_repro.training.formatting import PairFormatter

    name = (manifest.get("settings") or {}).get("model")
    model, processor = load_model_and_processor(name, world=world)
    formatter = PairFormatter.for_processor(processor, get_model_spec(name).family)
    found = []
    for row in tqdm(dataset, desc="chosen log-probs", unit="pair", leave=False):
        spans = row.get("chosen_sentence_spans") or []
        if not spans:
            found.append(None)
            continue
        pair = formatter.format(row["prompt"], row["chosen"], row["rejected"])
        start = pair.response_span[0]
        prompt = processor(images=[row["images"][0].convert("RGB")], text=[pair.prompt], add_special_tokens=False,
                           return_tensors="pt")
        answer = processor.tokenizer(pair.chosen, add_special_tokens=False, return_offsets_mapping=True)
        units = units_from_offsets(pair.chosen, answer["offset_mapping"], [(s + start, e + start) for s, e in spans])
        ids = torch.tensor([answer["input_ids"]])
        inputs = {**prompt, "input_ids": torch.cat([prompt["input_ids"], ids], dim=1)}
        inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
        with torch.no_grad():
            logits = model(**inputs).logits[0, prompt["input_ids"].shape[1] - 1:-1].float()
        token_nll = -torch.log_softmax(logits, dim=-1).gather(1, ids[0, :, None])[:, 0]
        unit = torch.tensor(units)
        found.append([float(token_nll[unit == k].mean()) if (unit == k).any() else 0.0 for k in range(len(spans))])
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
    from aspo_repro.miniworld.judge import judge_description, score_description

    verdicts = judge_description(text, scene)
    score = score_description(verdicts)
    claims = [parse_sentence(v.sentence) for v in verdicts]
    counts = [claim.count for claim in claims if claim is not None and claim.kind == "count"]
    return AnswerProfile(
        sentences=len(verdicts), words=len(text.split()), judged=score.judged, hallucinated=score.hallucinated,
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
    pairs = list(zip(chosen, rejected))
    same_length = [(c, r) for c, r in pairs if c.sentences == r.sentences]
    return {
        "hallucinated_sentences": tally(pairs, lambda p: p.hallucinated),
        "sentences": tally(pairs, lambda p: p.sentences),
        "words": tally(pairs, lambda p: p.words),
        "claimed_count": tally(pairs, lambda p: p.claimed_count),
        "object_sentences": tally(pairs, lambda p: p.object_sentences),
        # the signal length cannot explain: which side hallucinates more among pairs of equal length
        "hallucinated_at_equal_length": tally(same_length, lambda p: p.hallucinated),
    }


def tally(pairs: Sequence[tuple[AnswerProfile, AnswerProfile]], key) -> dict[str, int]:
    """How many (chosen, rejected) pairs have more of ``key`` on the rejected side, the chosen, or neither."""
    counts = {"rejected_more": 0, "chosen_more": 0, "equal": 0, "not_comparable": 0}
    for c, r in pairs:
        a, b = key(c), key(r)
        counts["not_comparable" if a is None or b is None else
               "rejected_more" if b > a else "chosen_more" if a > b else "equal"] += 1
    return counts


def weight_diagnosis(sentences: Sequence[ChosenSentence], *, seed: int = 0) -> dict[str, Any]:
    correct = [s for s in sentences if not s.hallucinated]
    hallucinated = [s for s in sentences if s.hallucinated]
    measured = set().union(*(s.weights for s in sentences))
    methods = [name for name in weighted_method_names() if name in measured]
    report = {
        "sentences": {"correct": len(correct), "hallucinated": len(hallucinated)},
        "auc_raw_similarity": auc_with_interval(sentences, lambda s: s.similarity, seed=seed),
        "auc_within_answer_raw_similarity": within_answer_auc(sentences, lambda s: s.similarity, seed=seed),
    }
    for method in methods:
        scale = gradient_scales(sentences, method)
        report[method] = {
            "auc": auc_with_interval(sentences, lambda s, m=method: s.weights[m], seed=seed),
            "auc_within_answer": within_answer_auc(sentences, lambda s, m=method: s.weights[m], seed=seed),
            "mean_weight": {"correct": _mean([s.weights[method] for s in correct]),
                            "hallucinated": _mean([s.weights[method] for s in hallucinated])},
            "gradient_scale": {"correct": _mean([scale[i] for i, s in enumerate(sentences) if not s.hallucinated]),
                               "hallucinated": _mean([scale[i] for i, s in enumerate(sentences) if s.hallucinated]),
                               "clamped_share": _clamped_share(sentences, method)},
        }
    return report


def auc(scores: Sequence[float], hallucinated: Sequence[bool]) -> float | None:
    """P(a correct sentence scores above a hallucinated one), ties counting half; None without both classes.

    The Mann-Whitney statistic from average ranks: the value ``sklearn.metrics.roc_auc_score`` gives
    (tests/data/test_diagnostics.py), without its input checks, which took most of a diagnosis's time
    (a bootstrap interval computes a thousand AUCs)."""
    from scipy.stats import rankdata

    correct = ~np.asarray(hallucinated, dtype=bool)
    positives = int(correct.sum())
    negatives = correct.size - positives
    if not positives or not negatives:
        return None
    ranks = rankdata(np.asarray(scores, dtype=float))  # ties share their mean rank: half a win each
    return float((ranks[correct].sum() - positives * (positives + 1) / 2) / (positives * negatives))


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


def within_answer_auc(sentences: Sequence[ChosenSentence], score, *, seed: int = 0) -> dict[str, Any]:
    """The AUC that decides ASPO's effect: within one chosen answer, how often a correct sentence
    scores above a hallucinated one (ties half), pooled over the answers that hold both, with a 95%
    interval resampling those answers. (The pooled AUC also compares sentences of different answers,
    which a weight normalised within its answer never does.)"""
    by_pair: dict[int, list[tuple[float, bool]]] = {}
    for sentence in sentences:
        by_pair.setdefault(sentence.pair, []).append((score(sentence), sentence.hallucinated))
    wins, counts = [], []
    for members in by_pair.values():
        right = np.array([v for v, h in members if not h])
        wrong = np.array([v for v, h in members if h])
        if len(right) and len(wrong):
            difference = right[:, None] - wrong[None, :]
            wins.append(float((difference > 0).sum() + 0.5 * (difference == 0).sum()))
            counts.append(float(difference.size))
    if not counts:
        return {"value": None, "ci95": None, "answers": 0}
    wins, counts = np.array(wins), np.array(counts)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(counts), size=(BOOTSTRAP_SAMPLES, len(counts)))
    values = wins[draws].sum(1) / counts[draws].sum(1)
    low, high = np.percentile(values, [2.5, 97.5])
    return {"value": round(float(wins.sum() / counts.sum()), 4), "ci95": [round(float(low), 4), round(float(high), 4)],
            "answers": len(counts)}


def answer_normalisers(sentences: Sequence[ChosenSentence], method: str, clamp_c: bool = True) -> dict[int, float]:
    """c per answer (pair) at equal per-token rewards, r_i = n_i, by the loss's own normaliser
    (``reward_ratio``, see the module docstring). Each answer's sums are taken here, in sentence order,
    and given to the normaliser as one unit, so that they are summed in one order on every machine."""
    import torch

    from aspo_repro.losses.aspo import normaliser

    pairs = sorted({s.pair for s in sentences})
    plain = [sum(s.words for s in sentences if s.pair == pair) for pair in pairs]
    weighted = [sum((1 + s.weights[method]) * s.words for s in sentences if s.pair == pair) for pair in pairs]
    rewards = torch.tensor(plain, dtype=torch.float64)[:, None]
    weighted_rewards = torch.tensor(weighted, dtype=torch.float64)[:, None]
    one_unit = torch.ones_like(rewards, dtype=torch.bool)
    c = normaliser("reward_ratio", rewards, weighted_rewards, weighted_rewards / rewards, one_unit, clamp_c=clamp_c)
    return dict(zip(pairs, c.tolist()))


def gradient_scales(sentences: Sequence[ChosenSentence], method: str) -> list[float]:
    """c (1 + w_i) per sentence, c per answer at equal per-token rewards (see the module docstring)."""
    c = answer_normalisers(sentences, method)
    return [c[s.pair] * (1 + s.weights[method]) for s in sentences]


def _clamped_share(sentences: Sequence[ChosenSentence], method: str) -> float | None:
    """The share of answers whose c sits at the lower clamp."""
    from aspo_repro.aspo_choices import C_RANGE

    unclamped = answer_normalisers(sentences, method, clamp_c=False)
    return sum(c < C_RANGE[0] for c in unclamped.values()) / len(unclamped) if unclamped else None


def _mean(values: Sequence[float]) -> float | None:
    return round(float(np.mean(values)), 4) if len(values) else None


def format_diagnosis(report: dict[str, Any]) -> str:
    chosen, rejected = report["answers"]["chosen"], report["answers"]["rejected"]
    weights = report["weights"]

    def rate(side):
        value = side["sentence_hallucination_rate"]
        return "-" if value is None else f"{100 * value:.1f}%"

    def interval(value):
        return "-" if value["value"] is None else f"{value['value']:.3f} [{value['ci95'][0]:.3f}, {value['ci95'][1]:.3f}]"

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
    lines.append(f"weights on {weights['sentences']['correct']} correct and {weights['sentences']['hallucinated']} "
                 "hallucinated chosen sentences: AUC (correct above hallucinated) [95%]; c(1+w) correct / hallucinated")
    lines.append(f"  {'raw similarity S':16} {interval(weights['auc_raw_similarity']):28} "
                 f"within answers {interval(weights['auc_within_answer_raw_similarity'])}")
    for method in weighted_method_names():
        if method in weights:
            scale = weights[method]["gradient_scale"]
            lines.append(f"  {method:16} {interval(weights[method]['auc']):28} within answers "
                         f"{interval(weights[method]['auc_within_answer']):28} {_number(scale['correct'])} / "
                         f"{_number(scale['hallucinated'])} (c at its 0.5 clamp in {_number(scale['clamped_share'])} of answers)")
    return "\n".join(lines)


def _number(value) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)
