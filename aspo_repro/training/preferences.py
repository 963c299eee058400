"""The preference data a training run reads, its schema and its validation.

A preference directory holds a ``datasets`` dataset written with ``Dataset.save_to_disk(DIR)``
(a ``DatasetDict`` with a ``train`` split is accepted too) and, beside it, ``manifest.json``
(any JSON object; it is copied into the run's ``run.json`` as the data's provenance).

Columns, one row per preference pair:

======================================  =========================================================
``id``                       str        unique within the file
``images``                   list       exactly one image (``datasets.Image`` feature)
``prompt``                   str        the user's instruction, without chat template or image token
``chosen``                   str        the preferred assistant response
``rejected``                 str        the dispreferred assistant response
``chosen_sentence_spans``    list       optional: ``[start, end)`` character spans of the chosen
                                        response's sentences (``segmentation.sentence_spans``);
                                        computed here when the column is absent
``chosen_sentence_similarity`` list     optional: CLIP similarity of each span's text to the image,
                                        one float per span; computed (and cached) when absent
``chosen_sentence_verdict``  list       optional (mini data): the exact judge's verdict on each span,
                                        1 correct, 0 hallucinated, -1 cannot judge; what
                                        ``aspo-oracle`` weights sentences by
======================================  =========================================================

A row that breaks the schema (a missing or empty image, an empty text, spans out of order or out
of the text, a similarity list of the wrong length) stops the run with a ``UserError`` naming the
row (0-based index and id) and the reason, before anything is written. Two kinds of row are
skipped instead, counted and recorded in ``run.json``: pairs whose chosen and rejected responses
are identical (no preference to learn; the SeVa pipeline drops them too), and pairs too long for
the model's ``max_length`` (see :mod:`aspo_repro.training.formatting`).
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aspo_repro.errors import UserError

REQUIRED_COLUMNS = ("id", "images", "prompt", "chosen", "rejected")
SPANS_COLUMN = "chosen_sentence_spans"
SIMILARITY_COLUMN = "chosen_sentence_similarity"
VERDICT_COLUMN = "chosen_sentence_verdict"
CORRECT, HALLUCINATED, UNJUDGED = 1, 0, -1
VERDICTS = {False: CORRECT, True: HALLUCINATED, None: UNJUDGED}  # by judge_sentence's answer
MANIFEST = "manifest.json"
MAX_LISTED_PROBLEMS = 5
MAX_LISTED_SKIPS = 20


@dataclass
class SkipReport:
    """Rows left out of training, by reason, with their ids."""

    ids: dict[str, list[str]] = field(default_factory=dict)

    def add(self, reason: str, row_id: str) -> None:
        self.ids.setdefault(reason, []).append(row_id)

    @property
    def total(self) -> int:
        return sum(len(ids) for ids in self.ids.values())

    def summary(self) -> dict[str, dict[str, Any]]:
        return {
            reason: {"count": len(ids), "ids": ids[:MAX_LISTED_SKIPS]}
            for reason, ids in self.ids.items()
        }

    def describe(self) -> str:
        return ", ".join(
            f"{len(ids)} {reason.replace('_', ' ')}" for reason, ids in self.ids.items()
        )


@dataclass
class PreferenceSet:
    """A validated preference dataset and what was learnt reading it."""

    directory: Path
    dataset: Any  # datasets.Dataset, rows kept for training
    total_rows: int
    skipped: SkipReport
    manifest: dict[str, Any] | None
    has_similarity: bool  # every kept row holds chosen_sentence_similarity
    has_verdicts: bool = False  # every kept row holds chosen_sentence_verdict (mini data)


def read_preferences(directory: str | Path) -> PreferenceSet:
    """Load and validate the preference directory; see the module docstring for the schema."""
    opened = open_preferences(directory)
    problems, kept, skipped = _check_rows(opened.dataset, opened.directory)
    if problems:
        raise UserError(_problem_message(opened.directory, problems))
    if not kept:
        raise UserError(f"{opened.directory}: no usable preference pairs ({skipped.describe()})")
    dataset = opened.dataset
    return PreferenceSet(
        directory=opened.directory,
        dataset=dataset.select(kept) if len(kept) < len(dataset) else dataset,
        total_rows=len(dataset),
        skipped=skipped,
        manifest=opened.manifest,
        has_similarity=_all_have(dataset, kept, SIMILARITY_COLUMN),
        has_verdicts=_all_have(dataset, kept, VERDICT_COLUMN),
    )


@dataclass
class OpenedPreferences:
    """A preference directory whose files load and whose columns are right; rows not yet checked."""

    directory: Path
    dataset: Any
    manifest: dict[str, Any] | None


def open_preferences(directory: str | Path) -> OpenedPreferences:
    """The dataset and manifest of a preference directory, every file-level fault a UserError."""
    directory = Path(directory)
    dataset = _load_dataset(directory)
    _check_columns(dataset, directory)
    return OpenedPreferences(directory, dataset, _read_manifest(directory))


def read_row(opened: OpenedPreferences, index: int) -> dict[str, Any]:
    """Row ``index`` (negative counts from the end) with images undecoded, checked like training
    checks every row: a bad row is the same UserError ``read_preferences`` gives."""
    total = len(opened.dataset)
    if not -total <= index < total:
        raise UserError(
            f"--index {index} is out of range: {opened.directory} holds {total} pairs (0..{total - 1})"
        )
    index %= total
    row = next(_raw_rows(opened.dataset, opened.directory, start=index, stop=index + 1))
    problem = _row_problem(row)
    if problem:
        raise UserError(_problem_message(opened.directory, [_row_label(index, row, problem)]))
    return row


def _all_have(dataset, kept: list[int], column: str) -> bool:
    if column not in dataset.column_names:
        return False
    values = dataset[column][:]  # the whole column at once: row by row, each read costs milliseconds
    return all(values[i] is not None for i in kept)


def _load_dataset(directory: Path):
    from datasets import DatasetDict, load_from_disk

    if not directory.is_dir():
        raise UserError(f"preference directory {directory} does not exist")
    try:
        loaded = load_from_disk(str(directory))
    except IndexError:  # datasets' reading of a saved dataset with no data files
        raise UserError(f"{directory} holds no preference pairs (an empty dataset)") from None
    except FileNotFoundError as error:
        raise UserError(
            f"{directory} is not a dataset written with datasets' save_to_disk ({error}); "
            "a preference directory is what `prefs` writes"
        ) from None
    except Exception as error:  # noqa: BLE001 - pyarrow and datasets raise many kinds on damaged files
        raise _damaged(directory, error) from None
    if isinstance(loaded, DatasetDict):
        if "train" not in loaded:
            raise UserError(f"{directory} holds splits {sorted(loaded)}; a 'train' split is needed")
        loaded = loaded["train"]
    if len(loaded) == 0:
        raise UserError(f"{directory} holds no preference pairs")
    _validate_arrow(loaded, directory)
    return loaded


def _validate_arrow(dataset, directory: Path) -> None:
    """Arrow's full check of every column (offsets, lengths, UTF-8) before any value is read:
    damaged buffers read unchecked can crash the process instead of raising."""
    table = dataset.data.table
    for name in table.column_names:
        try:
            table.column(name).validate(full=True)
        except Exception as error:  # noqa: BLE001 - pyarrow.ArrowInvalid and kin
            if "utf8" in str(error).lower() or "utf-8" in str(error).lower():
                raise UserError(f"{directory}: {_bad_text_row(table, name)}column {name} is not UTF-8 text; "
                                "every text must be UTF-8 (rebuild the data with `prefs`)") from None
            raise _damaged(directory, error) from None


def _bad_text_row(table, name: str) -> str:
    column = table.column(name)
    for index in range(len(column)):
        try:
            column.slice(index, 1).validate(full=True)
        except Exception:  # noqa: BLE001
            return f"row {index}, "
    return ""


def _damaged(directory: Path, error: BaseException) -> UserError:
    reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
    return UserError(
        f"{directory}: the dataset's files are damaged ({reason}); rebuild it with `prefs` "
        "(a preference directory is datasets' save_to_disk output with manifest.json)"
    )


def _check_columns(dataset, directory: Path) -> None:
    missing = [name for name in REQUIRED_COLUMNS if name not in dataset.column_names]
    if missing:
        raise UserError(
            f"{directory}: missing column(s) {', '.join(missing)}; a preference file needs "
            f"{', '.join(REQUIRED_COLUMNS)} (optional: {SPANS_COLUMN}, {SIMILARITY_COLUMN}, {VERDICT_COLUMN})"
        )
    from datasets import Image

    feature = dataset.features["images"]
    if not isinstance(getattr(feature, "feature", None), Image):
        raise UserError(
            f"{directory}: column images must be a list of datasets.Image (one image per pair), got {feature}"
        )


def _check_rows(dataset, directory: Path) -> tuple[list[str], list[int], SkipReport]:
    """Every schema problem as 'row i (id x): reason', the rows to keep and the rows to skip."""
    problems: list[str] = []
    kept: list[int] = []
    skipped = SkipReport()
    seen: set[str] = set()
    for index, row in enumerate(_raw_rows(dataset, directory)):
        row_id = str(row["id"])
        reason = _row_problem(row) or ("duplicate id" if row_id in seen else None)
        seen.add(row_id)
        if reason:
            problems.append(_row_label(index, row, reason))
        elif row["chosen"].strip() == row["rejected"].strip():
            skipped.add("chosen_equals_rejected", row_id)
        else:
            kept.append(index)
    return problems, kept, skipped


def _row_label(index: int, row: dict[str, Any], reason: str) -> str:
    return f"row {index} (id {str(row.get('id'))!r}): {reason}"


def _raw_rows(dataset, directory: Path, start: int = 0, stop: int | None = None, batch_size: int = 512):
    """Rows ``[start, stop)`` with images undecoded (bytes and path), read in Arrow batches so that
    checking stays cheap (the Arrow data was validated when the directory was opened)."""
    table = dataset.with_format("arrow")
    stop = len(dataset) if stop is None else stop
    for begin in range(start, stop, batch_size):
        end = min(begin + batch_size, stop)
        try:
            rows = table[begin:end].to_pylist()
        except Exception as error:  # noqa: BLE001 - pyarrow and datasets raise many kinds on damaged files
            raise _damaged(directory, error) from None
        yield from rows


def _row_problem(row: dict[str, Any]) -> str | None:
    for name in ("prompt", "chosen", "rejected"):
        value = row[name]
        if not isinstance(value, str):
            return f"{name} must be a string, got {type(value).__name__}"
        if not value.strip():
            return f"{name} is empty"
    problem = _image_problem(row["images"])
    if problem:
        return problem
    spans = row.get(SPANS_COLUMN)
    if SPANS_COLUMN in row:
        problem = spans_problem(spans, row["chosen"])
        if problem:
            return problem
    if SIMILARITY_COLUMN in row and row[SIMILARITY_COLUMN] is not None:
        problem = _similarity_problem(row[SIMILARITY_COLUMN], spans, row["chosen"])
        if problem:
            return problem
    if VERDICT_COLUMN in row and row[VERDICT_COLUMN] is not None:
        return _verdict_problem(row[VERDICT_COLUMN], spans, row["chosen"])
    return None


def _verdict_problem(verdicts: Any, spans: Any, text: str) -> str | None:
    from aspo_repro.segmentation import sentence_spans

    expected = len(spans) if spans is not None else len(sentence_spans(text))
    if len(verdicts) != expected:
        return f"{VERDICT_COLUMN} has {len(verdicts)} values for {expected} sentence(s)"
    if any(v not in VERDICTS.values() for v in verdicts):
        return f"{VERDICT_COLUMN} must hold {CORRECT} (correct), {HALLUCINATED} (hallucinated) or {UNJUDGED} (cannot judge)"
    return None


def _image_problem(images: Any) -> str | None:
    if not images:
        return "no image (images must hold exactly one image)"
    if not isinstance(images, list) or len(images) != 1:
        count = len(images) if isinstance(images, list) else "a non-list"
        return f"images must hold exactly one image, got {count}"
    return _single_image_problem(images[0])


def _single_image_problem(image: Any) -> str | None:
    from PIL import Image

    if image is None:
        return "the image is missing"
    if isinstance(image, Image.Image):
        return None if image.width > 0 and image.height > 0 else "the image is empty (0 pixels)"
    data, path = (
        (image.get("bytes"), image.get("path")) if isinstance(image, dict) else (None, None)
    )
    if not data and not path:
        return "the image is empty (no bytes and no path)"
    if not data and not Path(path).is_file():
        return f"the image file {path} does not exist"
    try:
        with whole_images_only(), Image.open(io.BytesIO(data) if data else path) as opened:
            opened.load()  # decodes every pixel: a truncated file fails here, not in training
            width, height = opened.size
    except Exception as error:  # noqa: BLE001 - PIL raises OSError, SyntaxError, ValueError... on damaged files
        return f"the image cannot be read ({_image_error(error)}); an image must be a whole PNG, JPEG or other PIL format"
    return None if width > 0 and height > 0 else "the image is empty (0 pixels)"


@contextlib.contextmanager
def whole_images_only() -> Iterator[None]:
    """PIL refusing truncated images in the block, whatever was imported before: lmms-eval's task
    module sets ``ImageFile.LOAD_TRUNCATED_IMAGES`` for the whole process when it is imported."""
    from PIL import ImageFile

    before = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = before


def _image_error(error: BaseException) -> str:
    text = str(error)
    return "not an image file" if "cannot identify image file" in text else text


def spans_problem(spans: Any, text: str) -> str | None:
    """Why ``spans`` are not ordered, disjoint, non-empty ``[start, end)`` spans of ``text``; None if they are."""
    if spans is None or len(spans) == 0:
        return f"{SPANS_COLUMN} is empty (a response has at least one sentence)"
    previous_end = 0
    for number, span in enumerate(spans):
        if not isinstance(span, (list, tuple)) or len(span) != 2:
            return f"{SPANS_COLUMN}[{number}] must be [start, end], got {span!r}"
        start, end = span
        if not (isinstance(start, int) and isinstance(end, int)):
            return f"{SPANS_COLUMN}[{number}] must hold integers, got {span!r}"
        if not previous_end <= start < end <= len(text):
            return (
                f"{SPANS_COLUMN}[{number}] = [{start}, {end}] is not an ordered, non-empty span "
                f"inside the chosen response (length {len(text)})"
            )
        previous_end = end
    return None


def _similarity_problem(similarity: Any, spans: Any, text: str) -> str | None:
    from aspo_repro.segmentation import sentence_spans

    expected = len(spans) if spans is not None else len(sentence_spans(text))
    if len(similarity) != expected:
        return f"{SIMILARITY_COLUMN} has {len(similarity)} values for {expected} sentence(s)"
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in similarity):
        return f"{SIMILARITY_COLUMN} must hold finite numbers"
    return None


def _problem_message(directory: Path, problems: list[str]) -> str:
    shown = "; ".join(problems[:MAX_LISTED_PROBLEMS])
    more = len(problems) - MAX_LISTED_PROBLEMS
    suffix = f"; and {more} more" if more > 0 else ""
    return (
        f"{directory}: {len(problems)} bad preference row(s) (0-based row numbers): {shown}{suffix}"
    )


def _read_manifest(directory: Path) -> dict[str, Any] | None:
    from aspo_repro.files import read_json_object

    path = directory / MANIFEST
    return read_json_object(path, "preference manifest") if path.exists() else None
