"""Render the collected views with Jinja2 into one directory and publish it atomically (write into a
temporary directory beside it, then rename: a reader sees the old report or the new one, never half)."""

from __future__ import annotations

import datetime as _dt
import json
from importlib import resources
from pathlib import Path
from typing import Any

from aspo_repro.report.sources import Sources, resolve_sources

ASSETS = ("report.css", "report.js")


def build_report(profile: str = "mini", out: str | Path | None = None, *, results_root: str | Path | None = None,
                 work_dir: str | Path | None = None, pairs: int | None = None, items_per_task: int | None = None,
                 perplexity: bool = True, progress=print) -> Path:
    """Write the report of ``profile`` into ``out`` (default: ``<work_dir>/report``); returns its index.html."""
    from aspo_repro import storage
    from aspo_repro.report.curves import collect_curves
    from aspo_repro.report.pairs import collect_pairs
    from aspo_repro.report.provenance_view import run_provenance
    from aspo_repro.report.samples import ITEMS_PER_TASK, collect_samples
    from aspo_repro.report.tables_view import collect_tables

    sources = resolve_sources(profile, results_root, work_dir)
    out = Path(out) if out else sources.work_dir / "report"
    progress(f"report of {sources.label}: results {sources.results_root}, work {sources.work_dir}")
    tables, figures, run_paths = collect_tables(sources)
    progress(f"  {len(tables)} table(s), {len(figures)} figure(s) from {len(run_paths)} run(s)")
    pair_sets = collect_pairs(sources, pairs, perplexity)
    progress(f"  {sum(len(p.pairs) for p in pair_sets)} preference pair(s) of {len(pair_sets)} model(s)")
    samples, without_answers = collect_samples(sources, items_per_task or ITEMS_PER_TASK)
    progress(f"  {len(samples)} side-by-side view(s); {len(without_answers)} run(s) without logged answers")
    curves = collect_curves(sources)
    progress(f"  training curves of {len(curves)} (model, method)")
    page = render_index(sources, tables, figures, pair_sets, samples, without_answers, curves, run_provenance(run_paths))
    with storage.atomic_directory(out, replace=True) as staging:
        write_site(staging, page, figures, pair_sets, samples, curves)
    return out / "index.html"


def render_index(sources: Sources, tables, figures, pair_sets, samples, without_answers, curves, provenance) -> str:
    import jinja2

    from aspo_repro.provenance import git_revision

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("aspo_repro.report", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )
    data = {
        "pairSets": [{"model": p.model, "directory": p.directory, "count": len(p.pairs), "pages": len(p.pages()),
                      "weights": p.weight_labels, "weightNames": p.weight_names, "hasVerdicts": p.has_verdicts, "notes": p.notes,
                      "diagnosis": diagnosis_numbers(p.diagnosis)} for p in pair_sets],
        "samples": [{"model": s.model, "benchmark": s.benchmark, "label": s.label, "methods": s.methods,
                     "runs": s.runs, "items": s.items} for s in samples],
        "provenance": provenance,
    }
    return environment.get_template("index.html.j2").render(
        sources=sources, tables=tables, figures=figures, pair_sets=pair_sets, samples=samples,
        without_answers=without_answers, curves=curves, data=data, git=git_revision() or "unknown",
        generated=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    )


def diagnosis_numbers(diagnosis: dict[str, Any] | None) -> list[list[str]]:
    """The pair set's diagnosis as the tables show it (``tables.diagnosis.diagnosis_rows``): header, then values."""
    if not diagnosis:
        return []
    from aspo_repro.tables.diagnosis import diagnosis_rows

    header, rows = diagnosis_rows({diagnosis.get("model") or "": diagnosis})
    return [header, *rows]


def write_site(root: Path, page: str, figures, pair_sets, samples, curves) -> None:
    (root / "index.html").write_text(page, encoding="utf-8")
    assets = resources.files("aspo_repro.report") / "assets"
    (root / "assets").mkdir()
    for name in ASSETS:
        (root / "assets" / name).write_bytes((assets / name).read_bytes())
    for view in [*figures, *curves]:
        write_bytes(root / view.svg_file, view.svg)
    for pair_set in pair_sets:
        folder = root / "pairs" / pair_set.model
        write_script(folder / "index.js", f"pairs/{pair_set.model}/index", pair_set.index())
        for number, pairs in enumerate(pair_set.pages()):
            write_script(folder / f"page-{number:04d}.js", f"pairs/{pair_set.model}/page-{number:04d}", pairs)
        for name, content in pair_set.images.items():
            write_bytes(folder / name, content)
    for view in samples:
        for name, content in view.images.items():
            write_bytes(root / "samples" / view.model / name, content)


def write_script(path: Path, key: str, value: Any) -> None:
    """Data as a script that hands it to the page (a page opened from disk may not fetch() files)."""
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    write_bytes(path, f"window.ASPO.receive({json.dumps(key)}, {body});\n".encode())


def write_bytes(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
