import pytest

from aspo_repro.results import MINI_BENCHMARKS, PAPER_BENCHMARKS
from aspo_repro.tables import render_table


def rows_of(md_path):
    """{alpha: [cells after alpha]} of the data table in figure3.md."""
    rows = {}
    for line in md_path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if line.startswith("| ") and cells[0].replace(".", "").isdigit():
            rows[float(cells[0])] = cells[1:]
    return rows


@pytest.fixture
def paper_sweep(write_result, results_root, tmp_path):
    methods = ["aspo-p", "aspo[alpha=0.25]", "aspo", "aspo[alpha=0.75]", "aspo-s"]
    for i, method in enumerate(methods):
        # others: mmvet 50 + i, the other eight 59: mean (50 + i + 8 * 59) / 9
        scores = {**dict.fromkeys(PAPER_BENCHMARKS, 59.0), "mmvet": 50.0 + i, "shr": 40.0 - i}
        write_result("paper", "llava-1.5-7b", method, 0, scores)
    return render_table("figure3", "paper", results_root, tmp_path / "out")


def test_figure3_writes_png_pdf_and_its_numbers(paper_sweep, tmp_path):
    assert sorted(p.name for p in paper_sweep) == ["figure3.md", "figure3.pdf", "figure3.png"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["figure3.md", "figure3.pdf", "figure3.png"]
    png, pdf = (tmp_path / "out" / "figure3.png").read_bytes(), (tmp_path / "out" / "figure3.pdf").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert pdf.startswith(b"%PDF")


def test_figure3_plots_shr_and_the_mean_of_the_others(paper_sweep, tmp_path):
    rows = rows_of(tmp_path / "out" / "figure3.md")
    assert rows[0.0] == ["aspo-p", "40.0", "58.00", "35.2", "65.16"]  # (50 + 472) / 9 = 58.0
    assert rows[0.25] == ["aspo[alpha=0.25]", "39.0", "58.11", "—", "—"]  # 523 / 9
    # published points are Table 5's rows: ASPO-S+P SHR 33.9, ASPO-S 34.6 and mean 584.2 / 9 = 64.91
    assert rows[0.5][3:] == ["33.9", "65.16"]
    assert rows[1.0] == ["aspo-s", "36.0", "58.44", "34.6", "64.91"]


def test_figure3_mini_with_seeds_and_missing_points(write_result, results_root, tmp_path):
    for seed, shr in enumerate((20.0, 22.0)):
        write_result("mini", "mini-llava-s", "aspo", seed, {**dict.fromkeys(MINI_BENCHMARKS, 60.0), "mini_shr": shr})
    render_table("figure3", "mini", results_root, tmp_path)
    rows = rows_of(tmp_path / "figure3.md")
    # ± is the half-width of the 95% interval over two seeds: t(0.975, 1) * sd / sqrt(2) = 12.706 * 1.414 / 1.414
    assert rows[0.5] == ["aspo", "21.0 ± 12.7 (n=2)", "60.00 ± 0.00 (n=2)"]
    assert rows[0.0] == ["aspo-p", "—", "—"]  # the mini profile draws no published points
    assert "Provenance: 2 run(s)" in (tmp_path / "figure3.md").read_text()
