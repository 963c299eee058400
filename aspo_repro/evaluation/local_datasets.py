"""Local copies of the hub datasets that lmms-eval's benchmark tasks read (``evaluate.dataset_dir``).

lmms-eval 0.7.3's POPE, GQA, ScienceQA-IMG, SEED-Bench, MMBench, MM-Vet and LLaVA-Bench (in the
wild) tasks load ``dataset_path``/``dataset_name`` from the hub. A local copy lies at
``DIR/OWNER/NAME``, as ``huggingface-cli download --repo-type dataset OWNER/NAME --local-dir
DIR/OWNER/NAME`` leaves it, so that ``datasets.load_dataset(DIR/OWNER/NAME, name=CONFIG)`` returns
the hub's configs and splits and lmms-eval's own task code (YAML and utils.py) runs on it with only
``dataset_path`` changed (a cluster without network; the rehearsal's stand-ins, ``rehearsal/``).

GQA is the one task that loads a second dataset itself: ``gqa/utils.py``'s ``gqa_process_docs``
calls ``load_dataset("lmms-lab-encoder/GQA", "testdev_balanced_images", split="testdev",
token=True)`` with the hub id written in the code (no argument or environment variable
changes it). ``datasets`` takes a path that exists as a directory for a local dataset before it
asks the hub, and the layout above makes ``DIR/lmms-lab-encoder/GQA`` that directory when the
working directory is ``DIR``; :func:`task_dataset_overrides` therefore gives the gqa task
lmms-eval's own ``gqa_process_docs``, run with ``DIR`` as the working directory (process-wide,
for that call only).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aspo_repro.errors import UserError


@dataclass(frozen=True)
class HubDataset:
    """A hub dataset as lmms-eval's task YAMLs name it (``dataset_path``), and the tasks that read it."""

    hub_id: str
    tasks: tuple[str, ...]

    @property
    def directory(self) -> Path:
        """Its place under a root: ``<owner>/<name>``, as the hub id reads as a relative path."""
        return Path(*self.hub_id.split("/"))


HUB_DATASETS: tuple[HubDataset, ...] = (
    HubDataset("lmms-lab-encoder/POPE", ("pope_random", "pope_pop", "pope_adv")),
    HubDataset("lmms-lab-encoder/GQA", ("gqa",)),
    HubDataset("lmms-lab-encoder/ScienceQA", ("scienceqa_img",)),
    HubDataset("lmms-lab-encoder/SEED-Bench", ("seedbench",)),
    HubDataset("lmms-lab-encoder/MMBench", ("mmbench_en_dev", "mmbench_en_test", "mmbench_cn_dev")),
    HubDataset("lmms-lab-encoder/MMVet", ("mmvet",)),
    HubDataset("lmms-lab-encoder/llava-bench-in-the-wild", ("llava_in_the_wild",)),
)
# Tasks whose utils.py load a second config by hub id inside process_docs: the function, by module.
SECOND_DATASET_TASKS = {"gqa": ("lmms_eval.tasks.gqa.utils", "gqa_process_docs")}


def hub_dataset(hub_id: str) -> HubDataset:
    """The dataset of ``hub_id`` (one of :data:`HUB_DATASETS`)."""
    for dataset in HUB_DATASETS:
        if dataset.hub_id == hub_id:
            return dataset
    raise KeyError(f"no hub dataset {hub_id!r}; known: {', '.join(d.hub_id for d in HUB_DATASETS)}")


def dataset_of_task(task: str) -> HubDataset:
    """The hub dataset lmms-eval's ``task`` reads."""
    for dataset in HUB_DATASETS:
        if task in dataset.tasks:
            return dataset
    known = sorted(t for d in HUB_DATASETS for t in d.tasks)
    raise KeyError(f"no hub dataset known for lmms-eval task {task!r}; known: {', '.join(known)}")


def local_task_configs(benchmark_name: str, tasks: Iterable[str], dataset_dir: Path) -> list[dict[str, Any]]:
    """The task configs that load ``tasks`` from the local copies in ``dataset_dir`` (``DIR/OWNER/NAME``);
    a UserError naming the copies that are not there."""
    tasks = tuple(tasks)
    datasets = list(dict.fromkeys(dataset_of_task(task) for task in tasks))
    missing = [d.hub_id for d in datasets if not (dataset_dir / d.directory).is_dir()]
    if missing:
        raise UserError(f"{benchmark_name}: no local copy of {', '.join(missing)} in {dataset_dir} "
                        f"(expected {dataset_dir}/OWNER/NAME, as `huggingface-cli download --repo-type dataset "
                        f"OWNER/NAME --local-dir {dataset_dir}/OWNER/NAME` writes)")
    return task_dataset_overrides({d.hub_id: dataset_dir / d.directory for d in datasets}, tasks)


def task_dataset_overrides(dataset_dirs: dict[str, Path], task_names: Iterable[str]) -> list[dict[str, Any]]:
    """For each lmms-eval task name, the task config that ``get_task_dict`` loads from the local copy
    (``dataset_dirs``: {hub id: its directory}).

    ``dataset_path`` is the copy's directory (the YAML's ``dataset_name``, ``test_split`` and
    ``dataset_kwargs`` stay). A task in SECOND_DATASET_TASKS also gets its own lmms-eval
    ``process_docs``, run with the copies' root as working directory (see the module docstring);
    that needs the copies in the layout ``ROOT/OWNER/NAME``."""
    overrides = []
    for task in task_names:
        dataset = dataset_of_task(task)
        directory = Path(dataset_dirs[dataset.hub_id]).resolve()
        override: dict[str, Any] = {"task": task, "dataset_path": str(directory)}
        if task in SECOND_DATASET_TASKS:
            override["process_docs"] = InHubRoot(hub_root(directory, dataset), *SECOND_DATASET_TASKS[task])
        overrides.append(override)
    return overrides


def hub_root(directory: Path, dataset: HubDataset) -> Path:
    """The root under which ``directory`` is ``<owner>/<name>`` (hub ids resolve from there)."""
    if directory.parts[-2:] != dataset.directory.parts:
        raise ValueError(f"{directory} must end in {dataset.directory} for {dataset.hub_id!r} to resolve to it "
                         "(a local copy lies at ROOT/OWNER/NAME)")
    return directory.parents[1]


class InHubRoot:
    """An lmms-eval utils function, imported from lmms-eval and called unchanged, with the
    working directory at ``root`` so the hub ids it loads resolve to the local copies there."""

    def __init__(self, root: Path, module: str, name: str) -> None:
        self.root, self.module, self.name = Path(root), module, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        import importlib

        function = getattr(importlib.import_module(self.module), self.name)
        with contextlib.chdir(self.root):
            return function(*args, **kwargs)

    def __repr__(self) -> str:
        return f"{self.module}.{self.name} (hub ids resolved under {self.root})"
