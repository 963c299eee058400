"""report.samples: outputs side by side."""


def test_a_committed_runs_images_are_found_in_this_machines_world_cache(tmp_path, monkeypatch):
    from aspo_repro.report.samples import local_benchmark_dir

    here = tmp_path / "cache" / "worlds" / "full-seed0-abc" / "data" / "benchmarks"
    here.mkdir(parents=True)
    monkeypatch.setenv("ASPO_CACHE_DIR", str(tmp_path / "cache"))
    assert local_benchmark_dir("/elsewhere/.cache/aspo/worlds/full-seed0-abc/data/benchmarks") == str(here)
    assert local_benchmark_dir("/elsewhere/.cache/aspo/worlds/full-seed0-other/data/benchmarks").startswith("/elsewhere")
    assert local_benchmark_dir(None) is None
