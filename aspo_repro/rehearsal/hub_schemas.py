"""The schemas of the hub datasets lmms-eval's benchmark tasks read: each config's name, folder,
splits and features, as the dataset's README declares them (``dataset_info`` and ``configs``).

Every writer of a copy in the hub's layout (the rehearsal's made-up rows, ``standin_rows.py``; the
mini world's questions, ``mini_datasets.py``) writes these configs; only the rows differ. Which task
reads which dataset, and where a copy lies: ``aspo_repro.evaluation.local_datasets``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datasets

LETTERS = "ABCD"  # the option letters of MMBench and SEED-Bench
POPE_CATEGORIES = ("adversarial", "popular", "random")  # POPE's Full config: one split each


@dataclass(frozen=True)
class ConfigSchema:
    """One config of a hub dataset: its name (a task YAML's ``dataset_name``; ``default``
    where the YAML names none), the repository folder of its parquet files, its splits, its features."""

    name: str
    folder: str
    splits: tuple[str, ...]
    features: Callable[[], datasets.Features]


def pope_features() -> datasets.Features:
    """lmms-lab(-encoder)/POPE's features (its README's dataset_info; both configs alike)."""
    from datasets import Features, Image, Value

    text = Value("string")
    return Features({"id": text, "question_id": text, "question": text, "answer": text,
                     "image_source": text, "image": Image(), "category": text})


def gqa_instruction_features() -> datasets.Features:
    """lmms-lab(-encoder)/GQA's ``*_instructions`` features. From its README: the names and the
    flat types; the nesting of ``annotations`` and ``semantic`` is a best reading of it (no
    lmms-eval code reads them)."""
    from datasets import Features, List, Value

    text = Value("string")
    pointer = List({"objectId": text, "value": text})
    return Features({
        "id": text, "imageId": text, "question": text, "answer": text, "fullAnswer": text,
        "isBalanced": Value("bool"), "groups": {"global": text, "local": text},
        "entailed": text, "equivalent": text,
        "types": {"structural": text, "semantic": text, "detailed": text},
        "annotations": {"answer": pointer, "question": pointer, "fullAnswer": pointer},
        "semantic": List({"operation": text, "argument": text, "dependencies": List(Value("int32"))}),
        "semanticStr": text,
    })


def gqa_image_features() -> datasets.Features:
    """lmms-lab(-encoder)/GQA's ``*_images`` features (its README)."""
    from datasets import Features, Image, Value

    return Features({"id": Value("string"), "image": Image()})


def scienceqa_features() -> datasets.Features:
    """lmms-lab(-encoder)/ScienceQA's features (its README; ScienceQA-IMG and -FULL alike)."""
    from datasets import Features, Image, List, Value

    text = Value("string")
    return Features({"image": Image(), "question": text, "choices": List(text), "answer": Value("int8"),
                     "hint": text, "task": text, "grade": text, "subject": text, "topic": text,
                     "category": text, "skill": text, "lecture": text, "solution": text})


def seedbench_features() -> datasets.Features:
    """lmms-lab(-encoder)/SEED-Bench's features. Column names are those of the SEED-Bench files
    (AILab-CVC's loader) with ``image`` a list of images, as lmms-lab's SEED-Bench-2 README
    declares; the dtypes of ``question_type_id`` and ``segment`` are guesses (no lmms-eval
    code reads them)."""
    from datasets import Features, Image, List, Value

    text = Value("string")
    return Features({"answer": text, "choice_a": text, "choice_b": text, "choice_c": text, "choice_d": text,
                     "data_id": text, "data_type": text, "question": text, "question_id": text,
                     "question_type_id": Value("int64"), "image": List(Image()), "segment": List(Value("int64"))})


def mmbench_features() -> datasets.Features:
    """lmms-lab(-encoder)/MMBench's ``en``/``cn`` features (its README). ``index`` is int64 as
    the cn config declares; one README version declared the en ``index`` a string, which
    lmms-eval's MMBench_Evaluator.eval_result (``data["index"] < int(1e6)``) could not compare."""
    from datasets import Features, Image, Value

    text = Value("string")
    return Features({"index": Value("int64"), "question": text, "hint": text, "answer": text, "A": text,
                     "B": text, "C": text, "D": text, "category": text, "image": Image(), "source": text,
                     "L2-category": text, "comment": text, "split": text})


def mmvet_features() -> datasets.Features:
    """lmms-lab(-encoder)/MMVet's features, as lmms-eval's mmvet/utils.py reads them; the
    column set and dtypes are not checked against the hub's README (not found offline)."""
    from datasets import Features, Image, Value

    text = Value("string")
    return Features({"question_id": text, "image": Image(), "question": text, "answer": text,
                     "image_source": text, "capability": text})


def llava_wild_features() -> datasets.Features:
    """lmms-lab(-encoder)/llava-bench-in-the-wild's features, as lmms-eval's
    llava-in-the-wild/utils.py reads them; the dtypes (``question_id`` int64) are not checked
    against the hub's README (not found offline)."""
    from datasets import Features, Image, Value

    text = Value("string")
    return Features({"question_id": Value("int64"), "question": text, "image": Image(), "caption": text,
                     "gpt_answer": text, "category": text, "image_id": text})


SCHEMAS: dict[str, tuple[ConfigSchema, ...]] = {  # hub id: its configs
    "lmms-lab-encoder/POPE": (
        ConfigSchema("default", "data", ("test",), pope_features),
        ConfigSchema("Full", "Full", POPE_CATEGORIES, pope_features),
    ),
    "lmms-lab-encoder/GQA": (
        ConfigSchema("testdev_balanced_instructions", "testdev_balanced_instructions", ("testdev",),
                     gqa_instruction_features),
        ConfigSchema("testdev_balanced_images", "testdev_balanced_images", ("testdev",), gqa_image_features),
    ),
    "lmms-lab-encoder/ScienceQA": (
        ConfigSchema("ScienceQA-IMG", "ScienceQA-IMG", ("validation", "test"), scienceqa_features),
    ),
    "lmms-lab-encoder/SEED-Bench": (
        ConfigSchema("default", "data", ("test",), seedbench_features),
    ),
    "lmms-lab-encoder/MMBench": (  # the configs are the languages
        ConfigSchema("cn", "cn", ("dev", "test"), mmbench_features),
        ConfigSchema("en", "en", ("dev", "test"), mmbench_features),
    ),
    "lmms-lab-encoder/MMVet": (
        ConfigSchema("default", "data", ("test",), mmvet_features),
    ),
    "lmms-lab-encoder/llava-bench-in-the-wild": (
        ConfigSchema("default", "data", ("train",), llava_wild_features),
    ),
}
