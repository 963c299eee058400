"""The pair browser's data: each model's preference pairs with ASPO's sentence weights (S, P, S+P) and,
in the mini world, the exact judge's verdict of every chosen sentence; paged for lazy loading.

The weights are ``data.diagnostics``' own (Eq. 6-10, normalised within the answer as training does;
P from the base model's log-probs, the first step's weights), so the browser shows what
``prefs diagnose`` measures. The noised image is an illustration: the pair's diffusion step and noise
seed applied to the image at its own size (the model saw it at its processor's size and normalisation).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aspo_repro.report.images import encode
from aspo_repro.report.sources import Sources

PAIRS_PER_PAGE = 50


@dataclass
class PairSet:
    model: str
    directory: str
    pairs: list[dict[str, Any]]  # one per pair: texts, sentences with weights and verdicts, image files
    images: dict[str, bytes]  # file name (relative to the model's folder) -> PNG
    weight_labels: list[str]
    has_verdicts: bool
    weight_names: dict[str, str] = field(default_factory=dict)  # label -> what the selector says
    diagnosis: dict[str, Any] | None = None
    fingerprint: str | None = None  # the data's (its manifest's), to match its diagnosis
    notes: list[str] = field(default_factory=list)  # what could not be shown, and why

    def pages(self) -> list[list[dict[str, Any]]]:
        return [self.pairs[i:i + PAIRS_PER_PAGE] for i in range(0, len(self.pairs), PAIRS_PER_PAGE)]

    def index(self) -> list[dict[str, Any]]:
        """What the filters need of every pair, loaded at once; the pairs themselves come by page."""
        return [{"i": p["i"], "id": p["id"], "page": p["i"] // PAIRS_PER_PAGE, "tags": p["tags"],
                 "disagreement": p["disagreement"]} for p in self.pairs]


def preference_dirs(sources: Sources) -> dict[str, Path]:
    """Each model's preference data in the work directory (``<work_dir>/<model>/prefs``)."""
    if not sources.work_dir.is_dir():
        return {}
    return {path.parent.name: path for path in sorted(sources.work_dir.glob("*/prefs")) if (path / "manifest.json").is_file()}


def collect_pairs(sources: Sources, limit: int | None = None, perplexity: bool = True) -> list[PairSet]:
    from aspo_repro.files import read_record
    from aspo_repro.results import diagnosis_path

    found = []
    for model, directory in preference_dirs(sources).items():
        pair_set = read_pair_set(model, directory, limit, perplexity)
        path = diagnosis_path(sources.results_root, sources.results_profile, model)
        diagnosis = read_record(path, "preference diagnosis")
        if diagnosis and diagnosis.get("data_fingerprint") == pair_set.fingerprint:
            pair_set.diagnosis = diagnosis
        elif diagnosis:
            pair_set.notes.append(f"{path} diagnoses other preference data (fingerprint "
                                  f"{diagnosis.get('data_fingerprint')}, not {pair_set.fingerprint}): not shown")
        found.append(pair_set)
    return found


def read_pair_set(model: str, directory: Path, limit: int | None, perplexity: bool) -> PairSet:
    from aspo_repro.data.diagnostics import sentence_nlls, weight_label, weighted_methods
    from aspo_repro.training.preferences import open_preferences

    opened = open_preferences(directory)
    settings = opened.manifest.get("settings") or {}
    world = mini_world(settings)
    count = len(opened.dataset) if limit is None else min(limit, len(opened.dataset))
    nll = sentence_nlls(opened, world, count) if world is not None and perplexity else [None] * count  # the diagnosis's
    scene_of = scene_lookup(world)
    labels = {method.name: weight_label(method) for method in weighted_methods()}
    pair_set = PairSet(model, str(directory), [], {}, [], has_verdicts=world is not None,
                       fingerprint=opened.manifest.get("fingerprint"))
    noise = settings.get("noise_step") or (opened.manifest.get("noise") or {}).get("step")
    for index in range(count):
        row = opened.dataset[index]
        scene = scene_of(str(row["id"])) if scene_of else None
        pair_set.pairs.append(pair_record(index, row, scene, nll[index], labels))
        files = {}
        for name, picture in pair_images(row["images"][0], noise, noise_seed_of(settings, row["id"])).items():
            content, extension = encode(picture)
            files[f"img/{name}-{hashlib.sha256(content).hexdigest()[:16]}.{extension}"] = content  # a shared image once
        pair_set.images.update(files)
        pair_set.pairs[-1]["images"] = list(files)
    present = {label for p in pair_set.pairs for s in p["sentences"] for label in s["weights"]}
    pair_set.weight_labels = [label for label in labels.values() if label in present]
    pair_set.weight_names = {weight_label(m): weight_name(m) for m in weighted_methods() if weight_label(m) in present}
    if world is None:
        pair_set.notes.append("no exact judge for this data (not made from the mini world): no verdicts")
    if not perplexity or world is None:
        pair_set.notes.append("P and S+P need the base model's log-probs, computed for mini-world data only")
    if count < len(opened.dataset):
        pair_set.notes.append(f"the first {count} of {len(opened.dataset)} pairs (report --pairs)")
    return pair_set


def weight_name(method) -> str:
    """``S+P (CLIP similarity + perplexity, alpha 0.5)``: what a method's weights mix (Eq. 10)."""
    from aspo_repro.data.diagnostics import weight_label

    signals = [name for used, name in ((method.uses_similarity, "CLIP similarity"), (method.uses_perplexity, "perplexity")) if used]
    return f"{weight_label(method)} ({' + '.join(signals)}, alpha {method.aspo_options.alpha:g}: {method.name})"


def mini_world(settings: dict[str, Any]):
    """The mini world the data was made from (built or reused from the cache), or None."""
    world_settings = settings.get("world")
    if not world_settings:
        return None
    from aspo_repro.miniworld.obtain import recorded_world

    return recorded_world(world_settings)


def scene_lookup(world):
    if world is None:
        return None
    from aspo_repro.data.diagnostics import scene_lookup

    return scene_lookup(world)


def noise_seed_of(settings: dict[str, Any], pair_id: str) -> int | None:
    from aspo_repro.data.noise import noise_seed

    return noise_seed(settings["seed"], str(pair_id)) if "seed" in settings else None


def pair_record(index: int, row: dict[str, Any], scene, mean_nll, labels: dict[str, str]) -> dict[str, Any]:
    from aspo_repro.data.diagnostics import method_weights

    spans = row.get("chosen_sentence_spans") or []
    similarity = [float(v) for v in (row.get("chosen_sentence_similarity") or [])]
    weights = method_weights(similarity, mean_nll) if spans and len(similarity) == len(spans) else {}
    sentences = []
    for k, (start, end) in enumerate(spans):
        text = row["chosen"][start:end]
        sentences.append({"start": start, "end": end, "text": text,
                          "similarity": similarity[k] if k < len(similarity) else None,
                          "weights": {labels[m]: round(w[k], 4) for m, w in weights.items() if m in labels},
                          "verdict": verdict_of(text, scene)})
    return {"i": index, "id": str(row["id"]), "prompt": row["prompt"], "chosen": row["chosen"],
            "rejected": row["rejected"], "sentences": sentences, "tags": confound_tags(row, scene),
            "disagreement": disagreement(sentences)}


def verdict_of(sentence: str, scene) -> str | None:
    """correct / hallucinated by the exact judge; None without one or for a sentence it does not judge."""
    if scene is None:
        return None
    from aspo_repro.miniworld.judge import judge_sentence_verdict

    hallucinated = judge_sentence_verdict(sentence, scene).hallucinated
    return None if hallucinated is None else ("hallucinated" if hallucinated else "correct")


def disagreement(sentences: list[dict[str, Any]]) -> dict[str, float]:
    """Per weight: the mean weight of the answer's hallucinated sentences minus that of its correct ones
    (above 0: the weight favours what the judge calls wrong); only answers with both."""
    found = {}
    labels = {label for s in sentences for label in s["weights"]}
    for label in labels:
        wrong = [s["weights"][label] for s in sentences if s["verdict"] == "hallucinated"]
        right = [s["weights"][label] for s in sentences if s["verdict"] == "correct"]
        if wrong and right:
            found[label] = round(sum(wrong) / len(wrong) - sum(right) / len(right), 4)
    return found


def confound_tags(row: dict[str, Any], scene) -> list[str]:
    """Which side is longer and, in the mini world, which claims more objects and hallucinates more."""
    chosen, rejected = len(row["chosen"].split()), len(row["rejected"].split())
    tags = ["rejected longer" if rejected > chosen else "chosen longer" if chosen > rejected else "equal length"]
    if scene is None:
        return tags
    from aspo_repro.data.diagnostics import answer_profile

    c, r = answer_profile(row["chosen"], scene), answer_profile(row["rejected"], scene)
    if c.claimed_count is not None and r.claimed_count is not None and c.claimed_count != r.claimed_count:
        tags.append("rejected claims more objects" if r.claimed_count > c.claimed_count else "chosen claims more objects")
    if c.hallucinated != r.hallucinated:
        tags.append("rejected hallucinates more" if r.hallucinated > c.hallucinated else "chosen hallucinates more")
    return tags


def pair_images(image: Any, noise_step: int | None, seed: int | None) -> dict[str, Any]:
    """The pair's image (``clean``) and, with a diffusion step and seed, the same image noised to it."""
    from PIL import Image

    picture = Image.open(io.BytesIO(image["bytes"])) if isinstance(image, dict) and image.get("bytes") else (
        Image.open(image["path"]) if isinstance(image, dict) else image)
    picture = picture.convert("RGB")
    if noise_step is None or seed is None:
        return {"clean": picture}
    return {"clean": picture, "noised": noised(picture, int(noise_step), seed)}


def noised(picture, step: int, seed: int):
    import numpy as np
    import torch
    from PIL import Image

    from aspo_repro.data.noise import add_diffusion_noise

    pixels = torch.from_numpy(np.asarray(picture, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)
    result = add_diffusion_noise(pixels[None], step, [seed])[0].permute(1, 2, 0).numpy()
    return Image.fromarray(((result.clip(-1, 1) + 1) * 127.5).round().astype(np.uint8))
