"""The site is written whole or not at all: a rerun replaces it, a failure keeps the last one."""

from __future__ import annotations

import pytest

from aspo_repro.report import build_report, site


def test_a_rerun_replaces_the_report_and_a_failed_one_keeps_it(fake_results, tmp_path, monkeypatch):
    out = tmp_path / "site"
    arguments = dict(results_root=fake_results, work_dir=tmp_path / "no-work", progress=lambda _: None)
    index = build_report("mini", out, **arguments)
    first = index.read_text(encoding="utf-8")
    assert (out / "assets" / "report.js").is_file() and (out / "figures" / "figure3.svg").is_file()
    assert "No preference data under" in first and "No training runs under" in first
    (out / "stale.txt").write_text("from an older report")
    build_report("mini", out, **arguments)
    assert not (out / "stale.txt").exists()

    def broken(root, *args):
        (root / "index.html").write_text("half")
        raise OSError("disk full")

    monkeypatch.setattr(site, "write_site", broken)
    with pytest.raises(OSError):
        build_report("mini", out, **arguments)
    assert index.read_text(encoding="utf-8") != "half" and (out / "assets" / "report.js").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
