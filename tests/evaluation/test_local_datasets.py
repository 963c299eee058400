"""Local copies of the benchmarks' hub datasets (``evaluate.dataset_dir``): each lmms-eval task is
pointed at its copy at ``DIR/OWNER/NAME``, and a missing copy is named in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from aspo_repro.errors import UserError
from aspo_repro.evaluation import local_datasets as ld
from aspo_repro.evaluation.benchmarks import REGISTRY


def test_every_hub_task_of_the_registry_reads_a_known_dataset():
    hub_tasks = {task for b in REGISTRY.values() if not b.own_task for task in b.tasks}
    assert hub_tasks == {task for dataset in ld.HUB_DATASETS for task in dataset.tasks}


def test_overrides_point_each_task_at_its_copy_and_refuse_unknown_layouts(tmp_path):
    dirs = {d.hub_id: tmp_path / d.directory for d in ld.HUB_DATASETS}
    [pope, gqa] = ld.task_dataset_overrides(dirs, ["pope_adv", "gqa"])
    assert pope == {"task": "pope_adv", "dataset_path": str((tmp_path / "lmms-lab-encoder" / "POPE").resolve())}
    assert gqa["dataset_path"] == str(dirs["lmms-lab-encoder/GQA"].resolve())
    assert gqa["process_docs"].root == tmp_path.resolve()
    assert "lmms_eval.tasks.gqa.utils.gqa_process_docs" in repr(gqa["process_docs"])
    with pytest.raises(KeyError, match="no hub dataset known for lmms-eval task 'mme'"):
        ld.task_dataset_overrides(dirs, ["mme"])
    with pytest.raises(ValueError, match="must end in"):
        ld.task_dataset_overrides({**dirs, "lmms-lab-encoder/GQA": tmp_path / "gqa"}, ["gqa"])


def test_the_process_docs_of_a_second_dataset_runs_in_the_copies_root(tmp_path, monkeypatch):
    import sys
    import types

    module = types.ModuleType("fake_utils")
    module.where = lambda docs: (docs, Path.cwd())
    monkeypatch.setitem(sys.modules, "fake_utils", module)
    assert ld.InHubRoot(tmp_path, "fake_utils", "where")("docs") == ("docs", tmp_path)
    assert Path.cwd() != tmp_path


def test_a_missing_copy_is_named_with_where_it_was_looked_for(tmp_path):
    (tmp_path / "lmms-lab-encoder" / "POPE").mkdir(parents=True)
    tasks = REGISTRY["pope"].tasks
    configs = ld.local_task_configs("pope", tasks, tmp_path)
    assert [c["task"] for c in configs] == list(tasks)
    with pytest.raises(UserError, match=r"gqa: no local copy of lmms-lab-encoder/GQA in .*OWNER/NAME"):
        ld.local_task_configs("gqa", REGISTRY["gqa"].tasks, tmp_path)
