"""Outputs side by side: base and trained models' answers to the same benchmark items, from what
lmms-eval logged beside each ``eval.json`` (``<run>/eval.lmms_eval/<benchmark>.json``, its samples),
with each sentence's verdict where the benchmark judges sentences (mini-SHR's exact judge) and the
item's expected answer where it has one; where the whole raw output is gone, from its excerpt
(``evaluation/excerpt.py``: the committed references keep the excerpt of each method's first seed).
Runs with neither are listed as such."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aspo_repro.evaluation.excerpt import ITEMS_PER_TASK  # the excerpt keeps as many as are shown
from aspo_repro.evaluation.submissions import raw_output_dir
from aspo_repro.report.sources import Sources

if TYPE_CHECKING:
    from aspo_repro.results import EvalResult


@dataclass
class SideBySide:
    model: str
    benchmark: str
    label: str
    methods: list[str]  # the columns: base first, then every trained method with logged answers (seed 0 or the first)
    runs: dict[str, str]  # method -> the run label the answers come from
    items: list[dict[str, Any]]  # per item: task, doc id, question, target, image file, answers by method
    images: dict[str, bytes] = field(default_factory=dict)


def collect_samples(sources: Sources, items_per_task: int = ITEMS_PER_TASK) -> tuple[list[SideBySide], list[str]]:
    """Every (model, benchmark) with logged answers of at least two runs; and the runs without raw outputs."""
    views, without = [], []
    for model_dir in sorted((sources.results_root / sources.results_profile).glob("*")):
        runs = first_seed_runs(model_dir)
        if not runs:
            continue
        logged = {}
        for method, (path, result) in runs.items():
            files = logged_outputs(raw_output_dir(path))
            if not files:
                without.append(result.run.label())
            logged[method] = {f.stem: f for f in files}
        for benchmark in sorted({b for files in logged.values() for b in files}):
            having = {m: files[benchmark] for m, files in logged.items() if benchmark in files}
            if len(having) >= 2:
                views.append(side_by_side(model_dir.name, benchmark, having, runs, items_per_task))
    return views, without


def logged_outputs(raw: Path) -> list[Path]:
    """A run's lmms-eval outputs per benchmark: the whole raw output where it is kept, else its excerpt
    (``evaluation/excerpt.py``: what the committed references keep)."""
    from aspo_repro.evaluation.excerpt import excerpt_dir

    for directory in (raw, excerpt_dir(raw)):
        files = sorted(directory.glob("*.json")) if directory.is_dir() else []
        if files:
            return files
    return []


def first_seed_runs(model_dir: Path) -> dict[str, tuple[Path, EvalResult]]:
    """method -> its eval.json of the lowest seed and the result read from it, base first, then in the
    method registry's order."""
    from aspo_repro.methods import all_methods
    from aspo_repro.results import EvalResult

    found, bases = {}, set()
    for path in sorted(model_dir.glob("*/seed*/eval.json"), key=lambda p: p.parent.name[4:].zfill(6)):
        result = EvalResult.load(path)
        found.setdefault(result.run.method, (path, result))
        bases |= {result.run.method} if result.run.is_base else set()
    registered = [method.name for method in all_methods()]

    def order(method: str) -> tuple:
        return (method not in bases, registered.index(method) if method in registered else len(registered), method)

    return {method: found[method] for method in sorted(found, key=order)}


def side_by_side(model: str, benchmark: str, files: dict[str, Path], runs: dict[str, tuple[Path, EvalResult]],
                 per_task: int) -> SideBySide:
    from aspo_repro.evaluation.benchmarks import REGISTRY
    from aspo_repro.files import read_record

    label = REGISTRY[benchmark].label if benchmark in REGISTRY else benchmark
    view = SideBySide(model, benchmark, label, list(files), {}, [])
    by_item: dict[tuple[str, Any], dict[str, Any]] = {}
    for method, path in files.items():
        _, result = runs[method]
        view.runs[method] = result.run.label()
        output = (read_record(path, "raw lmms-eval output") or {}).get("output") or {}
        image_root = local_benchmark_dir((result.provenance or {}).get("benchmark_dir"))
        for task, samples in sorted((output.get("samples") or {}).items()):
            for sample in samples[:per_task]:
                key = (task, sample.get("doc_id"))
                item = by_item.setdefault(key, new_item(task, sample, image_root, view))
                item["answers"][method] = answer(sample)
    view.items = list(by_item.values())
    return view


def local_benchmark_dir(recorded: str | None) -> str | None:
    """Where a run's benchmark images lie here: the recorded directory, or, for a mini world's made on
    another machine or checkout, the same world's directory in this machine's world cache."""
    if not recorded or Path(recorded).is_dir():
        return recorded
    from aspo_repro.miniworld.cache import default_cache_dir

    parts = Path(recorded).parts
    if "worlds" not in parts:
        return recorded
    here = default_cache_dir().joinpath(*parts[parts.index("worlds"):])
    return str(here) if here.is_dir() else recorded


def new_item(task: str, sample: dict[str, Any], image_root: str | None, view: SideBySide) -> dict[str, Any]:
    arguments = sample.get("arguments") or [""]
    item = {"task": task, "doc_id": sample.get("doc_id"), "question": str(arguments[0]),
            "target": None if sample.get("target") in (None, "") else str(sample.get("target")),
            "image": None, "answers": {}}
    media = sample.get("input_media") or []
    if image_root and media:
        source = Path(image_root) / str(media[0])
        if source.is_file():
            content, extension = image_of(source)
            item["image"] = f"img/{view.benchmark}-{task}-{sample.get('doc_id')}.{extension}"
            view.images[item["image"]] = content
    return item


def answer(sample: dict[str, Any]) -> dict[str, Any]:
    """The model's answer and, where a metric judged its sentences, each sentence with its verdict."""
    responses = sample.get("filtered_resps") or sample.get("resps") or [""]
    text = responses[0][0] if isinstance(responses[0], list) else responses[0]
    verdicts = next((value["verdicts"] for value in sample.values()
                     if isinstance(value, dict) and isinstance(value.get("verdicts"), list)), None)
    return {"text": str(text), "sentences": [{"text": s, "verdict": v} for s, v in verdicts] if verdicts else None,
            "prediction": next((str(value["prediction"]) for value in sample.values()
                                if isinstance(value, dict) and "prediction" in value), None)}


def image_of(path: Path) -> tuple[bytes, str]:
    from PIL import Image

    from aspo_repro.report.images import encode

    with Image.open(path) as picture:
        return encode(picture)
