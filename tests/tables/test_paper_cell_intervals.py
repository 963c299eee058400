"""Paper-profile cells with intervals (tables/grid.py, tables/render.py): one training seed per run,
so a cell's ± covers the benchmark's items only and the legend says so; a trained row's change over
its base row is paired item by item."""

from __future__ import annotations

import math

import pytest

from aspo_repro.results import BenchmarkScore, EvalResult, RunKey
from aspo_repro.tables import render_table

QUESTIONS = 200


def mmvet_items(right: int) -> dict:
    """MM-Vet's items (lmms-eval reports it on 0-100): the first ``right`` questions scored 1, the rest 0."""
    return {"mmvet": [[100, 1]] * right + [[0, 1]] * (QUESTIONS - right)}


def write(results_root, method: str, right: int, with_items: bool = True) -> None:
    score = BenchmarkScore(100 * right / QUESTIONS, items=mmvet_items(right) if with_items else None)
    EvalResult(RunKey("paper", "llava-1.5-7b", method, 0), {"mmvet": score}, {"test": True}).save_to(results_root)


def mmvet_cell(path, label: str) -> str:
    lines = [line for line in path.read_text().splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split(" | ")]
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if cells[:2] == ["LLaVA-1.5-7B", label]:
            return cells[header.index("MMVet")]
    raise AssertionError(f"no row {label}")


def numbers(text: str) -> list[float]:
    import re

    return [float(x) for x in re.findall(r"[+-]?\d+\.\d+", text)]


@pytest.fixture
def table1(results_root, tmp_path):
    def render() -> tuple:
        md = next(p for p in render_table(1, "paper", results_root, tmp_path / "tables") if p.suffix == ".md")
        return md, md.read_text()

    return render


def test_a_paper_cell_has_an_interval_over_items_and_a_paired_change_over_base(results_root, table1):
    write(results_root, "base", 100)  # 50%
    write(results_root, "aspo", 120)  # the same 100 questions right, and 20 more: 60%
    md, text = table1()
    base, aspo = mmvet_cell(md, "base"), mmvet_cell(md, "+ASPO")
    value, half, published_delta, published = numbers(base)
    assert (value, published_delta, published) == (50.0, 19.5, 30.5) and "Δ" not in base
    # a proportion's 95% half-width over 200 questions: 1.96 * sqrt(0.5 * 0.5 / 200) = 6.9 points
    assert half == pytest.approx(196 * math.sqrt(0.25 / QUESTIONS), abs=0.6)
    value, half, change, change_half, published_delta, published = numbers(aspo)
    assert (value, change, published_delta, published) == (60.0, 10.0, 24.7, 35.3)
    assert half == pytest.approx(196 * math.sqrt(0.24 / QUESTIONS), abs=0.6)
    # paired: only the 20 questions that changed vary the difference, 1.96 * sqrt(200 * 0.1 * 0.9) / 2 = 4.2
    # (unpaired, the two sides' spreads would add to 9.7, and +10.0 would not be significant)
    assert change_half == pytest.approx(1.96 * math.sqrt(QUESTIONS * 0.1 * 0.9) / 2, abs=0.6)
    assert aspo.startswith("60.0 ± ") and "(Δ +10.0 ± " in aspo and "*; +24.7 vs 35.3)" in aspo
    assert "± items only, 1 seed" in text


def test_without_items_a_paper_cell_has_no_interval_and_no_items_only_legend(results_root, table1):
    write(results_root, "base", 100, with_items=False)
    write(results_root, "aspo", 120, with_items=False)
    md, text = table1()
    assert mmvet_cell(md, "+ASPO") == "60.0 (Δ +10.0; +24.7 vs 35.3)"
    assert "items only" not in text
