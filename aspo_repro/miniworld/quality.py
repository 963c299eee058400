"""How imperfect the base models are, and how good the CLIP is, measured on held-out scenes.

The paper needs base models that mostly answer existence questions right yet hallucinate
in long descriptions, and a CLIP that tells a true sentence from one about an absent object.
These functions measure exactly that with the ground truth (the rule judge), on the
benchmark scenes, which no model saw in training.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from aspo_repro.miniworld import grammar, judge, lexicon
from aspo_repro.miniworld.questions import short_prompt
from aspo_repro.miniworld.scene import Scene


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _images(bench_dir: Path, items: list[dict]):
    from aspo_repro.miniworld.sft import load_images

    return load_images(bench_dir, [item["image"] for item in items])


def existence_quality(model, processor, bench_dir: Path, limit: int | None = None, progress: bool = False) -> dict:
    """Accuracy (and POPE's F1, yes-ratio) on mini-POPE's existence questions."""
    from aspo_repro.models.prompting import generate_answers

    items = read_jsonl(bench_dir / "mini_pope.jsonl")[:limit]
    answers = generate_answers(model, processor, _images(bench_dir, items),
                               [short_prompt(item["question"]) for item in items],
                               max_new_tokens=3, batch_size=64, progress=progress, desc="existence")
    predicted = [judge.parse_yes_no(answer) for answer in answers]
    truth = [item["answer"] for item in items]
    by_split = {}
    for split in sorted({item["split"] for item in items}):
        rows = [i for i, item in enumerate(items) if item["split"] == split]
        by_split[split] = binary_scores([predicted[i] for i in rows], [truth[i] for i in rows])["accuracy"]
    return {"questions": len(items), **binary_scores(predicted, truth), "accuracy_by_split": by_split}


def binary_scores(predicted: list[str | None], truth: list[str]) -> dict:
    tp = sum(p == "yes" and t == "yes" for p, t in zip(predicted, truth))
    fp = sum(p == "yes" and t == "no" for p, t in zip(predicted, truth))
    fn = sum(p != "yes" and t == "yes" for p, t in zip(predicted, truth))
    correct = sum(p == t for p, t in zip(predicted, truth))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "accuracy": correct / len(truth) if truth else 0.0,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "yes_ratio": sum(p == "yes" for p in predicted) / len(truth) if truth else 0.0,
        "unparsed": sum(p is None for p in predicted),
    }


def description_quality(model, processor, bench_dir: Path, limit: int | None = None, progress: bool = False) -> dict:
    """Hallucination in detailed descriptions of held-out scenes, judged sentence by sentence."""
    from aspo_repro.models.prompting import generate_answers

    items = read_jsonl(bench_dir / "mini_shr.jsonl")[:limit]
    texts = generate_answers(model, processor, _images(bench_dir, items), [item["question"] for item in items],
                             batch_size=32, progress=progress, desc="descriptions")
    scenes = [Scene.from_dict(item["scene"]) for item in items]
    verdicts = [judge.judge_description(text, scene) for text, scene in zip(texts, scenes)]
    scores = [judge.score_description(v) for v in verdicts]
    judged = sum(s.judged for s in scores)
    return {
        "descriptions": len(items),
        "with_hallucination": _share(sum(s.any_hallucination for s in scores), len(scores)),
        "with_object_hallucination": _share(sum(s.object_hallucinated > 0 for s in scores), len(scores)),
        "hallucinated_sentences": _share(sum(s.hallucinated for s in scores), judged),
        "object_hallucinated_sentences": _share(sum(s.object_hallucinated for s in scores), judged),
        "unjudged_sentences": _share(sum(s.unjudged for s in scores), judged + sum(s.unjudged for s in scores)),
        "mean_sentences": _share(judged, len(scores)),
        "object_hallucinations_of_a_partner": _partner_share(verdicts, scenes),
        "reasons": _reason_counts(verdicts),
        "examples": [{"scene": item["scene"]["id"], "text": text} for item, text in list(zip(items, texts))[:3]],
    }


def _partner_share(verdicts: list[list[judge.Verdict]], scenes: list[Scene]) -> float:
    """Of the absent shapes the descriptions mention, the share that is the usual partner of a
    present one (what the co-occurrence bias predicts)."""
    mentioned = []
    for scene_verdicts, scene in zip(verdicts, scenes):
        partners = {lexicon.PARTNERS[shape] for shape in scene.shapes}
        for verdict in scene_verdicts:
            if verdict.reason == "object":
                claim = grammar.parse_sentence(verdict.sentence)
                absent = [s for s in (claim.shape, claim.other_shape) if s and s not in scene.shapes]
                mentioned += [shape in partners for shape in absent]
    return _share(sum(mentioned), len(mentioned))


def _reason_counts(verdicts: list[list[judge.Verdict]]) -> dict[str, int]:
    counts = dict.fromkeys(judge.REASONS, 0)
    for scene_verdicts in verdicts:
        for verdict in scene_verdicts:
            if verdict.reason:
                counts[verdict.reason] += 1
    return counts


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def clip_ranking_pairs(scenes: list[Scene], seed: int = 0) -> list[tuple[Scene, str, str, str]]:
    """(scene, true object sentence, the same sentence about an absent shape, how it was drawn):
    the absent shape is the present object's usual partner when absent (the hard case), else
    drawn at random."""
    rng = random.Random(f"aspo-clip-pairs:{seed}")
    pairs = []
    for scene in scenes:
        for obj in scene.objects:
            partner = lexicon.PARTNERS[obj.shape]
            if partner not in scene.shapes:
                absent, how = partner, "partner"
            else:
                absent, how = rng.choice([s for s in lexicon.SHAPES if s not in scene.shapes]), "random"
            false_object = type(obj)(absent, obj.colour, obj.size, obj.row, obj.column)
            pairs.append((scene, grammar.object_sentence(obj), grammar.object_sentence(false_object), how))
    return pairs


def clip_quality(scorer, bench_dir: Path, scenes: list[Scene]) -> dict:
    """How often the CLIP scores the true sentence of an image above one about an absent object."""
    from aspo_repro.miniworld.data import image_name

    pairs = clip_ranking_pairs(scenes)
    images = _images(bench_dir, [{"image": f"images/{image_name(scene)}"} for scene, *_ in pairs])
    true_scores = scorer.score(images, [p[1] for p in pairs])
    false_scores = scorer.score(images, [p[2] for p in pairs])
    wins = (true_scores > false_scores).tolist()
    result = {"pairs": len(pairs), "true_above_absent": _share(sum(wins), len(wins))}
    for how in ("partner", "random"):
        chosen = [w for w, p in zip(wins, pairs) if p[3] == how]
        result[f"true_above_absent_{how}"] = _share(sum(chosen), len(chosen))
    return result


def measure_world(world, progress: bool = True, refresh: bool = False) -> dict:
    """Measure every base model and the judge-trained scorer of a built world (trained here on first use)
    on its held-out scenes; the result is stored in ``<world>/quality.json`` (with provenance) and reused
    while the world's stages are unchanged."""
    from aspo_repro import provenance
    from aspo_repro.clip_scorer import ClipScorer
    from aspo_repro.miniworld.build import QUALITY_FILE
    from aspo_repro.miniworld.judge_trained import ensure_judge_trained_scorer
    from aspo_repro.models.loading import load_model_and_processor
    from aspo_repro.storage import atomic_write_json

    path = world.root / QUALITY_FILE
    stages = world.info()["stages"]
    if path.is_file() and not refresh:
        stored = json.loads(path.read_text())
        if stored.get("stages") == stages:
            return stored
    bench = world.benchmark_dir
    models = {}
    for name in world.model_names:
        model, processor = load_model_and_processor(world.model_dir(name))
        models[name] = {
            "existence": existence_quality(model, processor, bench, progress=progress),
            "descriptions": description_quality(model, processor, bench, progress=progress),
        }
    scorer = ClipScorer.from_dir(ensure_judge_trained_scorer(world, progress=progress), use_disk_cache=False)
    result = {
        "world": world.root.name, "stages": stages, "models": models,
        "clip": clip_quality(scorer, bench, world.scenes("bench")),
        "provenance": provenance.provenance(),
    }
    atomic_write_json(path, result)
    return result
