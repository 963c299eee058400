"""How the report's pair browser scales to the paper profile's 16K preference pairs.

Builds synthetic paper-profile preference data (no world: no verdicts, S weights only, as the paper
profile's report shows) of N pairs and of N/10 pairs in the same run, writes the report of each, and
prints the wall time, the peak memory, what the page loads at once (index.html, its assets, each model's
pair index) against what it loads as the reader pages (one page of pairs, its images), and the ratio of
the time per pair at N to the time per pair at N/10 (1: linear).

    python benchmarks/report_scale.py                 # 16000 and 1600 pairs, 256-pixel photographs
    python benchmarks/report_scale.py --pairs 2000    # quicker
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import tempfile
import time
from pathlib import Path

MODEL = "llava-1.5-7b"
WORDS = ("a red bus", "two people", "a small dog", "a green sofa", "the road", "a tall tree", "the sky")


def photograph(rng: random.Random, side: int):
    """A smooth, photograph-like picture (a gradient with a few blobs): JPEG-compressible as photos are."""
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[0:side, 0:side] / side
    channels = [np.sin(x * rng.uniform(1, 6) + y * rng.uniform(1, 6) + rng.uniform(0, 6)) for _ in range(3)]
    return Image.fromarray((np.stack(channels, -1) * 100 + 128).clip(0, 255).astype("uint8"))


def answer(rng: random.Random) -> str:
    return " ".join(f"There is {rng.choice(WORDS)} near {rng.choice(WORDS)}." for _ in range(rng.randint(3, 7)))


def preference_data(directory: Path, pairs: int, side: int, seed: int = 0) -> None:
    """``pairs`` rows in the schema of ``training.preferences``, with CLIP-like similarities."""
    from datasets import Dataset, Features, Image, List

    from aspo_repro.segmentation import sentence_spans

    rng = random.Random(seed)
    pictures = [photograph(rng, side) for _ in range(64)]  # reused: generating 16K pictures is not what is timed
    rows = []
    for index in range(pairs):
        chosen, rejected = answer(rng), answer(rng)
        spans = [list(span) for span in sentence_spans(chosen)]
        rows.append({"id": f"pair-{index}", "images": [pictures[index % len(pictures)]],
                     "prompt": "Describe the image in detail.", "chosen": chosen, "rejected": rejected,
                     "chosen_sentence_spans": spans, "chosen_sentence_similarity": [rng.uniform(0.1, 0.4) for _ in spans]})
    columns = {key: [row[key] for row in rows] for key in rows[0]}
    others = Dataset.from_dict({k: v for k, v in columns.items() if k != "images"}).features
    Dataset.from_dict(columns, features=Features({**others, "images": List(Image())})).save_to_disk(str(directory))
    (directory / "manifest.json").write_text(json.dumps({"source": "benchmarks/report_scale.py", "rows": pairs}))


def measure(root: Path, pairs: int, side: int) -> dict:
    from aspo_repro.report.site import build_report
    from aspo_repro.results import BenchmarkScore, EvalResult, RunKey

    work, results = root / "work", root / "results"
    preference_data(work / MODEL / "prefs", pairs, side)
    base = EvalResult(RunKey("paper", MODEL, "base", 0), {"pope": BenchmarkScore(85.9)})  # a report needs a result
    base.save_to(results)
    started = time.perf_counter()
    index = build_report("paper", root / "report", results_root=results, work_dir=work, progress=lambda _: None)
    seconds = time.perf_counter() - started
    site = index.parent
    folder = site / "pairs" / MODEL
    pages = sorted(folder.glob("page-*.js"))
    images = sorted((folder / "img").glob("*")) if (folder / "img").is_dir() else []
    at_once = index.stat().st_size + sum(p.stat().st_size for p in (site / "assets").iterdir()) + \
        (folder / "index.js").stat().st_size
    image_bytes = sum(p.stat().st_size for p in images)
    return {"pairs": pairs, "seconds": round(seconds, 1), "per_pair_ms": round(1000 * seconds / pairs, 2),
            "site_mb": round(sum(p.stat().st_size for p in site.rglob("*") if p.is_file()) / 2**20, 1),
            "loaded_at_once_mb": round(at_once / 2**20, 2), "pair_index_mb": round((folder / "index.js").stat().st_size / 2**20, 2),
            "pages": len(pages), "largest_page_kb": round(max(p.stat().st_size for p in pages) / 1024, 1),
            "page_images_kb": round(image_bytes / max(1, len(images)) * 2 * 50 / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=16000)
    parser.add_argument("--side", type=int, default=336, help="the pictures' side in pixels (LLaVA-1.5's input)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="report-scale-"))
    try:
        small = measure(scratch / "small", max(1, args.pairs // 10), args.side)
        large = measure(scratch / "large", args.pairs, args.side)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for row in (small, large):
        print(json.dumps(row))
    print(json.dumps({"time_per_pair_ratio": round(large["per_pair_ms"] / small["per_pair_ms"], 2),
                      "peak_rss_mb": round(peak_mb)}))


if __name__ == "__main__":
    main()
