"""The report's tables are the Markdown tables' rendering data: the same cell texts, classed by the
sign and significance of their changes."""

from __future__ import annotations

from aspo_repro.report.sources import Sources
from aspo_repro.report.tables_view import collect_tables
from aspo_repro.tables import render_table


def markdown_rows(path) -> list[list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| ---"))
    return [line[2:-2].split(" | ") for line in lines[start + 1:] if line.startswith("| ")]


def test_every_cell_is_the_markdown_tables_and_a_clear_gain_is_coloured(fake_results, tmp_path):
    results = fake_results
    sources = Sources("mini", "mini", results, tmp_path / "work")
    tables, figures, runs = collect_tables(sources)
    table1 = next(t for t in tables if t.name == "table1")
    render_table(1, "mini", results, tmp_path / "tables")
    expected = markdown_rows(tmp_path / "tables" / "table1.md")
    shown = [row.head + [f"{c.main} ({c.note})" if c.note else c.main for c in row.cells] for row in table1.rows]
    assert shown == expected
    gqa = table1.columns.index("mini-GQA ≈ GQA") - table1.head_count
    aspo = next(row for row in table1.rows if row.runs and "aspo" in row.runs[0])
    assert "base-better-sig" in aspo.cells[gqa].classes and "vs-better-sig" in aspo.cells[gqa].classes
    assert len(aspo.runs) == 3 and set(aspo.runs) <= set(runs)
    assert {f.name for f in figures} == {"base-quality", "figure3", "lr-sweep", "weight-quality"} and all(f.svg.startswith(b"<?xml") for f in figures)
