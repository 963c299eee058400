"""Build the paper rehearsal's stand-ins where the profile's own settings point.

    hub_cache              the three paper checkpoints, shrunk, as hub snapshots (checkpoints.py)
    prefs.instructions     LLaVA-Instruct-150K-format JSON, prefs.image_dir its COCO-style JPEGs
    prefs.clip             the paper CLIP's architecture, shrunk (clip.py)
    evaluate.dataset_dir   the benchmarks' hub datasets, in their schemas (benchmark_data.py)
    evaluate.shr_data      SHR documents, written by the paper's own prepare_shr_docs from
                           HA-DPO-format files and a Visual Genome layout of the photographs

Each part is reused when complete, so the step is cheap the second time.
"""

from __future__ import annotations

import json
from pathlib import Path

from aspo_repro import storage
from aspo_repro.errors import UserError
from aspo_repro.rehearsal import instructions as photos


def build_standins(profile, log=print) -> dict[str, Path]:
    """Every stand-in the profile names; {part: path}."""
    from aspo_repro.models import model_names
    from aspo_repro.rehearsal.benchmark_data import write_benchmark_datasets
    from aspo_repro.rehearsal.checkpoints import write_standins
    from aspo_repro.rehearsal.clip import write_clip_standin

    settings = profile.standins
    targets = _targets(profile)
    json_path, image_dir = photos.write_instruction_data(targets["instructions"], targets["images"], settings.photos,
                                                         settings.seed)
    log(f"stand-in instruction data: {json_path} ({settings.photos} photographs in {image_dir})")
    write_clip_standin(targets["clip"], seed=settings.seed)
    write_standins(targets["hub_cache"], model_names("paper"), photos.corpus(json_path), seed=settings.seed, log=log)
    images = _photographs(image_dir)
    write_benchmark_datasets(targets["datasets"], images, rows=settings.benchmark_rows, seed=settings.seed)
    log(f"stand-in benchmark datasets in {targets['datasets']}")
    write_shr_documents(targets["shr_data"], json_path, image_dir, settings.benchmark_rows)
    return targets


def _targets(profile) -> dict[str, Path]:
    prefs, evaluate = profile.prefs, profile.evaluate
    named = {"instructions": None if prefs.is_mini else Path(prefs.instructions), "images": prefs.image_dir,
             "clip": profile.path(prefs.clip), "hub_cache": profile.hub_cache, "datasets": evaluate.dataset_dir,
             "shr_data": evaluate.shr_data}
    missing = [name for name, path in named.items() if path is None]
    if missing:
        raise UserError(f"profile {profile.name}: standins need these settings to say where the stand-ins go: "
                        f"{', '.join(missing)}")
    return named


def _photographs(image_dir: Path) -> list:
    from PIL import Image

    images = []
    for path in sorted(image_dir.glob("*.jpg")):
        with Image.open(path) as image:
            images.append(image.convert("RGB"))
    return images


def write_shr_documents(out: Path, json_path: Path, image_dir: Path, count: int) -> Path:
    """SHR's documents through the paper's ``prepare_shr_docs``: HA-DPO's files (validation image
    ids, factual notes) and Visual Genome's (image data, region descriptions, images) in their
    formats, made from ``count`` photographs and what they show."""
    from aspo_repro.evaluation.shr import prepare_shr_docs

    if out.is_file():
        return out
    root = out.parent / "sources"
    shr_dir, vg_dir = root / "shr", root / "vg"
    entries, images, regions, factual = [], [], [], {}
    for index, (photo_id, things) in enumerate(sorted(photos.read_scenes(json_path).items())[:count]):
        image_id = 1000 + index
        storage.atomic_write_bytes(vg_dir / "VG_100K" / f"{image_id}.jpg", (image_dir / f"{photo_id}.jpg").read_bytes())
        entries.append({"image_id": image_id})
        images.append({"image_id": image_id, "width": photos.SIZE[0], "height": photos.SIZE[1],
                       "url": f"https://cs.stanford.edu/people/rak248/VG_100K/{image_id}.jpg"})
        regions.append({"regions": [{"image_id": image_id, "x": t.box[0], "y": t.box[1], "width": t.box[2] - t.box[0],
                                     "height": t.box[3] - t.box[1], "phrase": f"{t.colour} {t.name}"} for t in things]})
        factual[str(image_id)] = [f"There is a {t.colour} {t.name}." for t in things]
    storage.atomic_write_text(shr_dir / "val_images_final.json", json.dumps(entries))
    items = list(factual.items())
    half = len(items) // 2
    for part, chunk in ((1, items[:half]), (2, items[half:])):
        storage.atomic_write_text(shr_dir / f"shr_factual_part{part}.jsonl",
                                  "".join(json.dumps({key: value}) + "\n" for key, value in chunk))
    storage.atomic_write_text(vg_dir / "image_data.json", json.dumps(images))
    storage.atomic_write_text(vg_dir / "region_descriptions.json", json.dumps(regions))
    return prepare_shr_docs(shr_dir, vg_dir, out)
