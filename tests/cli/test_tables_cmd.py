from aspo_repro.cli import main
from aspo_repro.results import MINI_BENCHMARKS, BenchmarkScore, EvalResult, RunKey


def test_tables_renders_into_the_output_directory(tmp_path, capsys):
    run = RunKey("mini", "mini-llava-s", "base", 0)
    EvalResult(run, {b: BenchmarkScore(50.0) for b in MINI_BENCHMARKS}).save_to(tmp_path / "results")
    code = main(["tables", "--table", "5", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "out")])
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["table5.md", "table5.tex"]
    assert "wrote" in capsys.readouterr().out
    assert "| mini-LLaVA-S | base | 50.0 (paper base 85.9) |" in (tmp_path / "out" / "table5.md").read_text()


def test_repeated_tables_are_each_rendered(tmp_path):
    """``--table 1 --table 5`` renders both (it once rendered only the last), as ``reproduce`` takes them."""
    assert main(["tables", "--table", "1", "--table", "5,1", "--results", str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["table1.md", "table1.tex", "table5.md", "table5.tex"]


def test_tables_all_renders_every_table_and_the_figure(tmp_path):
    assert main(["tables", "--table", "all", "--results", str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted([f"table{t}.{e}" for t in "1256" for e in ("md", "tex")] + ["figure3.md", "figure3.pdf", "figure3.png"])


def test_audit_prints_the_findings(capsys):
    assert main(["tables", "--audit"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 place(s) where the paper disagrees with itself:")
    assert "Table 5, llava-1.5-7b base: the published Avg 62.59" in out


def test_bad_input_is_one_line_listing_the_known_names(tmp_path, capsys):
    assert main(["tables", "--table", "3", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == "error: unknown table '3'; known tables: 1, 1-scorers, 2, 5, 6, base-quality, figure3, lr-sweep, weight-quality"
    assert main(["tables", "--table", "1", "--profile", "gpu", "--out", str(tmp_path)]) == 2
    assert "known profiles: mini, paper" in capsys.readouterr().err
    assert main(["tables"]) == 2
    assert "name a table with --table" in capsys.readouterr().err
