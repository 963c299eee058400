"""Local stand-ins of the Hugging Face datasets that lmms-eval's benchmark tasks read.

Made-up copies of those datasets (``standin_rows.py``) in the hub's schema (``hub_schemas.py``) and
file layout (``hub_writer.py``), where the evaluation reads local copies (``evaluate.dataset_dir``,
``aspo_repro.evaluation.local_datasets``), so that lmms-eval's own task code (YAML and utils.py)
runs on them with only ``dataset_path`` changed; beside them, the answer keys of the submission
benchmarks (``answer_keys.py``).

``DATASETS`` states what each stand-in is made of: its hub id, the function drawing each config's
rows, how its images are encoded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from aspo_repro.rehearsal import standin_rows as made_up
from aspo_repro.rehearsal.answer_keys import write_answer_keys
from aspo_repro.rehearsal.hub_writer import (
    RowFunction,
    StandinDataset,
    image_fingerprint,
    write_hub_dataset,
)

if TYPE_CHECKING:
    from PIL import Image as PILImage

LAYOUT_VERSION = 1  # bump when the rows or the layout change, so old copies are rewritten


def _mmbench_rows(language: str) -> RowFunction:
    return lambda draw, split, n: made_up.mmbench_rows(draw, split, n, language)


DATASETS: tuple[StandinDataset, ...] = (
    StandinDataset("lmms-lab-encoder/POPE", {"default": made_up.pope_rows, "Full": made_up.pope_rows}),
    StandinDataset("lmms-lab-encoder/GQA", {"testdev_balanced_instructions": made_up.gqa_instruction_rows,
                                            "testdev_balanced_images": made_up.gqa_image_rows}),
    StandinDataset("lmms-lab-encoder/ScienceQA", {"ScienceQA-IMG": made_up.scienceqa_rows}, image_format="PNG"),
    StandinDataset("lmms-lab-encoder/SEED-Bench", {"default": made_up.seedbench_rows}),
    StandinDataset("lmms-lab-encoder/MMBench", {"cn": _mmbench_rows("cn"), "en": _mmbench_rows("en")},
                   image_format="PNG"),
    StandinDataset("lmms-lab-encoder/MMVet", {"default": made_up.mmvet_rows}, image_format="PNG"),
    StandinDataset("lmms-lab-encoder/llava-bench-in-the-wild", {"default": made_up.llava_wild_rows}),
)


def write_benchmark_datasets(root: Path, images: Sequence[PILImage.Image], *, rows: int = 8,
                             seed: int = 0) -> dict[str, Path]:
    """Write every dataset of ``DATASETS`` under ``root/<owner>/<name>``; returns {hub id: directory}.

    ``rows`` questions per split (MMBench: questions, each with its circular copies), images
    cycled from ``images``, content fixed by ``seed``. Each dataset is written to a temporary
    directory and renamed into place; one already written from the same arguments is kept."""
    if rows < 1 or not images:
        raise ValueError("write_benchmark_datasets needs rows >= 1 and at least one image")
    root = Path(root)
    fingerprints = [image_fingerprint(image) for image in images]
    written, draws = {}, {}
    for dataset in DATASETS:
        stamp = {"layout": LAYOUT_VERSION, "hub_id": dataset.hub_id, "rows": rows, "seed": seed,
                 "images": fingerprints}
        draws[dataset.hub_id] = made_up.Draw(seed, dataset.hub_id, tuple(images), dataset.image_format)
        written[dataset.hub_id] = write_hub_dataset(root, dataset, draws[dataset.hub_id], rows, stamp)
    write_answer_keys(root, draws, rows)
    return written
