"""Writing a hub dataset's copy in the hub's file layout: ``root/<owner>/<name>/`` as
``huggingface-cli download --repo-type dataset ID --local-dir DIR`` leaves it, parquet files per
config folder and a README whose YAML declares ``dataset_info`` and ``configs``, so that
``datasets.load_dataset(DIR, name=CONFIG)`` returns the hub's configs, splits and features
(``aspo_repro.evaluation.local_datasets`` reads such copies). The configs are the dataset's schema
(``hub_schemas.py``); the rows come from the writer's row functions.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aspo_repro import storage
from aspo_repro.evaluation.local_datasets import hub_dataset
from aspo_repro.rehearsal.hub_schemas import SCHEMAS, ConfigSchema

if TYPE_CHECKING:
    from PIL import Image as PILImage

    from aspo_repro.rehearsal.standin_rows import Draw

STAMP = ".rehearsal.json"  # in each written dataset: the arguments it was written from

RowFunction = Callable[["Draw", str, int], list[dict[str, Any]]]  # (draw, split, rows) -> the split's rows


@dataclass(frozen=True)
class StandinDataset:
    """A hub dataset to write: its hub id, the rows of each of its configs (by config name), and how
    its images are encoded ("PNG" or "JPEG")."""

    hub_id: str
    rows: Mapping[str, RowFunction]
    image_format: str = "JPEG"

    def __post_init__(self) -> None:
        names = [config.name for config in self.configs]
        if sorted(self.rows) != sorted(names):
            raise ValueError(f"{self.hub_id}: rows for configs {sorted(self.rows)}, but its configs are {names}")

    @property
    def configs(self) -> tuple[ConfigSchema, ...]:
        return SCHEMAS[self.hub_id]

    @property
    def directory(self) -> Path:
        return hub_dataset(self.hub_id).directory


def write_hub_dataset(root: Path, dataset: StandinDataset, draw: Draw, rows: int, stamp: dict[str, Any]) -> Path:
    """``dataset`` under ``root/<owner>/<name>``, written to a temporary directory and renamed into
    place; kept when the copy there was written from the same ``stamp`` (JSON: what it is made from)."""
    directory = Path(root) / dataset.directory
    if _stamp_of(directory) != stamp:
        with storage.atomic_directory(directory, replace=True) as tmp:
            _write_dataset(tmp, dataset, draw, rows)
            storage.atomic_write_json(tmp / STAMP, stamp)
    return directory


def image_fingerprint(image: PILImage.Image) -> str:
    """Identity of an image's pixels (mode, size and bytes)."""
    return storage.sha256_bytes(f"{image.mode}{image.size}".encode() + image.tobytes())


def _stamp_of(directory: Path) -> Any:
    path = directory / STAMP
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_dataset(directory: Path, dataset: StandinDataset, draw: Draw, n: int) -> None:
    """Parquet files ``<folder>/<split>-00000-of-00001.parquet`` and the README declaring them."""
    with quiet_datasets():
        sizes = _write_parquet(directory, dataset, draw, n)
    (directory / "README.md").write_text(dataset_card(dataset, sizes), encoding="utf-8")


def _write_parquet(directory: Path, dataset: StandinDataset, draw: Draw, n: int) -> dict[str, dict[str, tuple[int, int]]]:
    from datasets import Dataset

    sizes: dict[str, dict[str, tuple[int, int]]] = {}  # config: split: (rows, bytes)
    for config in dataset.configs:
        (directory / config.folder).mkdir(parents=True, exist_ok=True)
        sizes[config.name] = {}
        for split in config.splits:
            table = Dataset.from_list(dataset.rows[config.name](draw, split, n), features=config.features())
            table.to_parquet(str(directory / config.folder / f"{split}-00000-of-00001.parquet"))
            sizes[config.name][split] = (len(table), table.data.nbytes)
    return sizes


@contextlib.contextmanager
def quiet_datasets() -> Iterator[None]:
    """No progress bars from ``datasets`` in the block (as they were after it)."""
    import datasets

    shown = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if shown:
            datasets.enable_progress_bars()


def dataset_card(dataset: StandinDataset, sizes: dict[str, dict[str, tuple[int, int]]]) -> str:
    """The README as ``push_to_hub`` writes it: YAML ``dataset_info`` (features, splits) and
    ``configs`` (``data_files`` per split), which ``load_dataset`` reads for configs and splits."""
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    def info(config: ConfigSchema) -> DatasetInfo:
        splits = SplitDict({s: SplitInfo(s, num_examples=sizes[config.name][s][0],
                                         num_bytes=sizes[config.name][s][1]) for s in config.splits})
        return DatasetInfo(features=config.features(), config_name=config.name, splits=splits)

    card = DatasetCardData()
    DatasetInfosDict({c.name: info(c) for c in dataset.configs}).to_dataset_card_data(card)
    MetadataConfigs({c.name: {"data_files": [{"split": s, "path": f"{c.folder}/{s}-*"} for s in c.splits]}
                     for c in dataset.configs}).to_dataset_card_data(card)
    return (f"---\n{card.to_yaml()}\n---\n\n# {dataset.hub_id} (stand-in)\n\nMade-up rows in the schema of "
            f"the hub dataset `{dataset.hub_id}`, written by aspo_repro.rehearsal.benchmark_data.\n")
