"""Local stand-ins of the Hugging Face datasets that lmms-eval's benchmark tasks read.

lmms-eval 0.7.3's POPE, GQA, ScienceQA-IMG, SEED-Bench, MMBench, MM-Vet and LLaVA-Bench (in the
wild) tasks load ``dataset_path``/``dataset_name`` from the hub. This module writes made-up
copies of those datasets in the hub's schema and file layout (``root/<owner>/<name>/`` as
``huggingface-cli download --repo-type dataset ID --local-dir DIR`` leaves it: parquet files
per config folder and a README whose YAML declares ``dataset_info`` and ``configs``), so that
``datasets.load_dataset(DIR, name=CONFIG)`` returns the hub's configs, splits and features and
lmms-eval's own task code (YAML and utils.py) runs on them with only ``dataset_path`` changed.

``DATASETS`` states every fact once: the hub id as the task YAMLs name it, the tasks reading
it, its configs (folder, splits, features) and the function drawing its rows. Each row
function's docstring says which lmms-eval code reads which column; columns no lmms-eval code
reads are kept for the schema, with made-up values (see each ``*_features``).

GQA is the one task that loads a second dataset itself: ``gqa/utils.py``'s ``gqa_process_docs``
calls ``load_dataset("lmms-lab-encoder/GQA", "testdev_balanced_images", split="testdev",
token=True)`` with the hub id written in the code (no argument or environment variable
changes it). ``datasets`` takes a path that exists as a directory for a local dataset before it
asks the hub, and the layout above makes ``root/lmms-lab-encoder/GQA`` that directory when the
working directory is ``root``; ``task_dataset_overrides`` therefore gives the gqa task
lmms-eval's own ``gqa_process_docs``, run with ``root`` as the working directory (process-wide,
for that call only).
"""

from __future__ import annotations

import contextlib
import io
import json
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aspo_repro import storage

if TYPE_CHECKING:
    import datasets
    from PIL import Image as PILImage

STAMP = ".rehearsal.json"  # in each written dataset: the arguments it was written from
LAYOUT_VERSION = 1  # bump when the rows or the layout change, so old copies are rewritten
MMBENCH_ROTATION = 1_000_000  # MMBench's circular copies: index + k * 1e6 (mmbench_evals.eval_result)
LETTERS = "ABCD"
OBJECTS = ("dog", "cat", "car", "chair", "person", "bottle", "cup", "bicycle", "umbrella", "bus")
COLOURS = ("red", "blue", "green", "yellow", "white", "black")
POPE_CATEGORIES = ("adversarial", "popular", "random")  # POPE's Full config: one split each


# ----------------------------------------------------------------------------- drawing rows

@dataclass(frozen=True)
class Draw:
    """What row functions draw from: the seed, the dataset, and the images to cycle through."""

    seed: int
    hub_id: str
    images: tuple[Any, ...]  # PIL images
    image_format: str  # "PNG" or "JPEG": how the Image() feature's bytes are encoded

    def rng(self, *parts: object) -> random.Random:
        """A generator fixed by the seed, the dataset and ``parts`` (never by the call order)."""
        return random.Random("/".join(map(str, (self.seed, self.hub_id, *parts))))

    def image(self, k: int) -> dict[str, Any]:
        """The ``k``-th image (cycling), as the hub stores an ``Image()`` value."""
        picture = self.images[k % len(self.images)]
        buffer = io.BytesIO()
        picture.convert("RGB").save(buffer, format=self.image_format)
        return {"bytes": buffer.getvalue(), "path": None}


def balanced(rng: random.Random, values: Sequence[Any], n: int) -> list[Any]:
    """``n`` values, each of ``values`` as often as possible, shuffled (a constant answer scores)."""
    drawn = [values[i % len(values)] for i in range(n)]
    rng.shuffle(drawn)
    return drawn


# ----------------------------------------------------------------------------- POPE

def pope_features() -> datasets.Features:
    """lmms-lab(-encoder)/POPE's features (its README's dataset_info; both configs alike)."""
    from datasets import Features, Image, Value

    text = Value("string")
    return Features({"id": text, "question_id": text, "question": text, "answer": text,
                     "image_source": text, "image": Image(), "category": text})


def pope_rows(draw: Draw, split: str, n: int) -> list[dict[str, Any]]:
    """POPE questions: ``n`` per category; split ``test`` (default config) holds all categories.

    Read by lmms-eval's pope/utils.py: ``image`` (pope_doc_to_visual), ``question``
    (pope_doc_to_text), ``answer`` yes/no and ``question_id`` (pope_process_results); the YAML's
    doc_to_target is ``answer``. The Full config's splits are the categories (the pope_random,
    pope_pop and pope_adv tasks' ``test_split``)."""
    rows = []
    for category in POPE_CATEGORIES if split == "test" else (split,):
        rng = draw.rng("pope", category)
        for i, answer in enumerate(balanced(rng, ("yes", "no"), n)):
            k = POPE_CATEGORIES.index(category) * n + i
            rows.append({"id": str(k), "question_id": str(k + 1),
                         "question": f"Is there a {rng.choice(OBJECTS)} in the image?", "answer": answer,
                         "image_source": f"COCO_val2014_{k:012d}", "image": draw.image(k), "category": category})
    return rows


# ----------------------------------------------------------------------------- GQA

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


GQA_TEMPLATES = (  # question, answers, full answer, (structural, semantic, detailed)
    ("Is there a {o} in the picture?", ("yes", "no"), "{a_cap}, there is a {o}.", ("verify", "obj", "existC")),
    ("On which side of the photo is the {o}?", ("left", "right"), "The {o} is on the {a} of the photo.",
     ("query", "rel", "place")),
    ("What color is the {o}?", COLOURS, "The {o} is {a}.", ("query", "attr", "colorSimple")),
)


def gqa_image_id(j: int) -> str:
    """The GQA image id of the ``j``-th image: two questions per image."""
    return f"n{j + 10000:06d}"


def gqa_instruction_rows(draw: Draw, split: str, n: int) -> list[dict[str, Any]]:
    """GQA testdev-balanced questions, two per image.

    Read by lmms-eval's gqa/utils.py: ``imageId`` (gqa_process_docs joins it to the images
    config's ``id``), ``question`` (gqa_doc_to_text); the YAML's doc_to_target is ``answer``,
    scored by exact_match (ignore case and punctuation)."""
    rng = draw.rng("gqa", split)
    rows = []
    for i, (question, answers, full, types) in enumerate(balanced(rng, GQA_TEMPLATES, n)):
        thing, answer, qid = rng.choice(OBJECTS), rng.choice(answers), str(201000000 + i)
        pointer = [{"objectId": str(3000000 + i), "value": thing}]
        rows.append({
            "id": qid, "imageId": gqa_image_id(i // 2), "question": question.format(o=thing),
            "answer": answer, "fullAnswer": full.format(o=thing, a=answer, a_cap=answer.capitalize()),
            "isBalanced": True, "groups": {"global": None, "local": f"10q-{thing}_{types[2]}"},
            "entailed": "[]", "equivalent": f"['{qid}']",
            "types": dict(zip(("structural", "semantic", "detailed"), types)),
            "annotations": {"answer": [], "question": pointer, "fullAnswer": pointer},
            "semantic": [{"operation": "select", "argument": f"{thing} ({3000000 + i})", "dependencies": []}],
            "semanticStr": f"select: {thing} ({3000000 + i})",
        })
    return rows


def gqa_image_rows(draw: Draw, split: str, n: int) -> list[dict[str, Any]]:
    """The images of the ``n`` questions: ``id`` and ``image``, read by gqa_process_docs
    (``row["id"]``, ``row["image"].convert("RGB")``) into each question's ``image``."""
    return [{"id": gqa_image_id(j), "image": draw.image(j)} for j in range((n + 1) // 2)]


# ----------------------------------------------------------------------------- ScienceQA

def scienceqa_features() -> datasets.Features:
    """lmms-lab(-encoder)/ScienceQA's features (its README; ScienceQA-IMG and -FULL alike)."""
    from datasets import Features, Image, List, Value

    text = Value("string")
    return Features({"image": Image(), "question": text, "choices": List(text), "answer": Value("int8"),
                     "hint": text, "task": text, "grade": text, "subject": text, "topic": text,
                     "category": text, "skill": text, "lecture": text, "solution": text})


SQA_QUESTIONS = (  # question, candidate choices, topic, category, skill
    ("Which animal is shown in the picture?", OBJECTS[:2] + ("horse", "fish"), "biology", "Classification",
     "Identify animals"),
    ("Which color is the largest object?", COLOURS, "physics", "Colors", "Identify colors"),
    ("Which of these objects is a vehicle?", ("car", "cup", "chair", "bottle"), "science-and-engineering-practices",
     "Designing experiments", "Identify vehicles"),
)


def scienceqa_rows(draw: Draw, split: str, n: int) -> list[dict[str, Any]]:
    """ScienceQA image questions with two to four choices.

    Read by lmms-eval's scienceqa/utils.py: ``hint``, ``question``, ``choices`` (sqa_doc_to_text;
    an empty hint gives no "Context:" line), ``image`` (sqa_doc_to_visual), ``answer`` the index
    of the right choice (sqa_doc_to_target/sqa_process_results: letter A, B, ...)."""
    rng = draw.rng("scienceqa", split)
    rows = []
    for i in range(n):
        question, candidates, topic, category, skill = rng.choice(SQA_QUESTIONS)
        choices = rng.sample(candidates, rng.randint(2, min(4, len(candidates))))
        answer = rng.randrange(len(choices))
        rows.append({"image": draw.image(i), "question": question, "choices": choices, "answer": answer,
                     "hint": "" if i % 2 else "Look at the picture.", "task": "closed choice",
                     "grade": f"grade{rng.randint(2, 8)}", "subject": "natural science", "topic": topic,
                     "category": category, "skill": skill, "lecture": f"A lecture about {topic}.",
                     "solution": f"The answer is {choices[answer]}."})
    return rows


# ----------------------------------------------------------------------------- SEED-Bench

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


def seedbench_rows(draw: Draw, split: str, n: int) -> list[dict[str, Any]]:
    """SEED-Bench image questions (``data_type`` image, one image each, ``segment`` null).

    Read by lmms-eval's seedbench/utils.py: ``image`` a list (seed_doc_to_visual),
    ``question`` and ``choice_a``..``choice_d`` (seed_doc_to_text), ``answer`` a letter,
    ``data_type`` (the metric seed_<data_type>) and ``question_id`` (seed_process_result)."""
    rng = draw.rng("seedbench", split)
    rows = []
    for i, answer in enumerate(balanced(rng, tuple(LETTERS), n)):
        choices = rng.sample(OBJECTS, 4)
        rows.append({"answer": answer, **{f"choice_{c.lower()}": o for c, o in zip(LETTERS, choices)},
                     "data_id": f"task1/{i:08d}.jpg", "data_type": "image",
                     "question": "Which object is in the center of the image?",
                     "question_id": str(100000 + i), "question_type_id": rng.randint(1, 9),
                     "image": [draw.image(i)], "segment": None})
    return rows


# ----------------------------------------------------------------------------- MMBench

def mmbench_features() -> datasets.Features:
    """lmms-lab(-encoder)/MMBench's ``en``/``cn`` features (its README). ``index`` is int64 as
    the cn config declares; one README version declared the en ``index`` a string, which
    lmms-eval's MMBench_Evaluator.eval_result (``data["index"] < int(1e6)``) could not compare."""
    from datasets import Features, Image, Value

    text = Value("string")
    return Features({"index": Value("int64"), "question": text, "hint": text, "answer": text, "A": text,
                     "B": text, "C": text, "D": text, "category": text, "image": Image(), "source": text,
                     "L2-category": text, "comment": text, "split": text})


MMBENCH_TEXT = {  # language: question, hint, options
    "en": ("What is the main object in the image?", "The picture was taken outdoors.", OBJECTS),
    "cn": ("图中的主要物体是什么？", "这张照片是在户外拍摄的。",
           ("狗", "猫", "汽车", "椅子", "人", "瓶子", "杯子", "自行车", "雨伞", "公共汽车")),
}


def mmbench_rows(draw: Draw, split: str, n: int, language: str) -> list[dict[str, Any]]:
    """The rows of :func:`mmbench_questions`, the test split's answers withheld as on the hub."""
    rows = mmbench_questions(draw, split, n, language)
    return rows if split == "dev" else [{**row, "answer": None} for row in rows]


def mmbench_questions(draw: Draw, split: str, n: int, language: str) -> list[dict[str, Any]]:
    """``n`` MMBench questions with two to four options, each with its circular copies.

    As MMBench's files hold them, a question with k options is k rows: the options rotated,
    ``index`` + r * 1e6 for rotation r (mmbench_evals.eval_result scores a question right only
    if every rotation is). Read by lmms-eval's mmbench en_utils/cn_utils: ``A``..``D`` (absent
    options null; create_options_prompt), ``question``, ``hint`` (null or text), ``index``,
    ``category``, ``L2-category``, ``source``, ``split``, ``answer`` (a letter on dev; null on
    test, whose answers the MMBench server keeps -- a guess about the hub's test split) and
    ``image`` (mmbench_doc_to_visual)."""
    rng = draw.rng("mmbench", language, split)
    question, hint, vocabulary = MMBENCH_TEXT[language]
    base = 0 if split == "dev" else 500_000
    rows = []
    for i in range(n):
        options = rng.sample(vocabulary, rng.randint(2, 4))
        right = rng.randrange(len(options))
        for r in range(len(options)):
            rotated = options[r:] + options[:r]
            rows.append({
                "index": base + i + r * MMBENCH_ROTATION, "question": question,
                "hint": None if i % 2 else hint,
                "answer": LETTERS[(right - r) % len(options)],
                **{c: (rotated[k] if k < len(rotated) else None) for k, c in enumerate(LETTERS)},
                "category": "image_scene", "image": draw.image(i), "source": "MMBench",
                "L2-category": "coarse_perception", "comment": None, "split": split})
    return rows


# ----------------------------------------------------------------------------- MM-Vet

def mmvet_features() -> datasets.Features:
    """lmms-lab(-encoder)/MMVet's features, as lmms-eval's mmvet/utils.py reads them; the
    column set and dtypes are not checked against the hub's README (not found offline)."""
    from datasets import Features, Image, Value

    text = Value("string")
    return Features({"question_id": text, "image": Image(), "question": text, "answer": text,
                     "image_source": text, "capability": text})


MMVET_QUESTIONS = (  # question, answer, capability
    ("What color is the {o}?", "{c}", "rec"),
    ("What is written on the sign next to the {o}?", "stop <OR> STOP", "ocr"),
    ("How many objects can you count? Add two to the count.", "3", "rec,math"),
    ("Is the {o} on the left or on the right of the image?", "left", "rec,spat"),
    ("Why might someone put a {o} here?", "to keep it out of the way", "rec,know,gen"),
)


def mmvet_rows(draw: Draw, split: str, n: int) -> list[dict[str, Any]]:
    """MM-Vet questions. Read by lmms-eval's mmvet/utils.py: ``image`` (mmvet_doc_to_visual),
    ``question`` (doc_to_text), and for the GPT judge ``question``, ``answer`` (``<AND>``/``<OR>``
    answers), ``question_id`` and ``capability`` (comma separated; mmvet_aggregate_results)."""
    rng = draw.rng("mmvet", split)
    rows = []
    for i, (question, answer, capability) in enumerate(balanced(rng, MMVET_QUESTIONS, n)):
        thing, colour = rng.choice(OBJECTS), rng.choice(COLOURS)
        rows.append({"question_id": f"v1_{i}", "image": draw.image(i), "question": question.format(o=thing),
                     "answer": answer.format(c=colour), "image_source": f"v1_{i}.png", "capability": capability})
    return rows


# ----------------------------------------------------------------------------- LLaVA-Bench (in the wild)

def llava_wild_features() -> datasets.Features:
    """lmms-lab(-encoder)/llava-bench-in-the-wild's features, as lmms-eval's
    llava-in-the-wild/utils.py reads them; the dtypes (``question_id`` int64) are not checked
    against the hub's README (not found offline)."""
    from datasets import Features, Image, Value

    text = Value("string")
    return Features({"question_id": Value("int64"), "question": text, "image": Image(), "caption": text,
                     "gpt_answer": text, "category": text, "image_id": text})


LLAVA_QUESTIONS = {  # category: question (the three categories of rule.json)
    "conv": "What is the {o} next to?",
    "detail": "Describe this photo in detail.",
    "complex": "What might happen next to the {o}, and why?",
}


def llava_wild_rows(draw: Draw, split: str, n: int) -> list[dict[str, Any]]:
    """LLaVA-Bench questions, three per image. Read by lmms-eval's llava-in-the-wild/utils.py:
    ``image`` (llava_doc_to_visual), ``question`` (llava_doc_to_text), and for the GPT judge
    ``gpt_answer``, ``caption``, ``category`` (conv/detail/complex: the rule and the metric
    gpt_eval_llava_<category>) and ``question_id``."""
    rng = draw.rng("llava_wild", split)
    rows = []
    for i, category in enumerate(balanced(rng, tuple(LLAVA_QUESTIONS), n)):
        thing, colour = rng.choice(OBJECTS), rng.choice(COLOURS)
        rows.append({"question_id": i, "question": LLAVA_QUESTIONS[category].format(o=thing),
                     "image": draw.image(i // 3), "caption": f"A {colour} {thing} on a plain background.",
                     "gpt_answer": f"The image shows a {colour} {thing}.", "category": category,
                     "image_id": f"{i // 3 + 1:03d}"})
    return rows


# ----------------------------------------------------------------------------- the table

RowFunction = Callable[[Draw, str, int], list[dict[str, Any]]]


@dataclass(frozen=True)
class Config:
    """One config of a hub dataset: its name (a task YAML's ``dataset_name``; ``default``
    where the YAML names none), the repository folder of its parquet files, its splits."""

    name: str
    folder: str
    splits: tuple[str, ...]
    features: Callable[[], datasets.Features]
    rows: RowFunction


@dataclass(frozen=True)
class HubDataset:
    """A hub dataset as lmms-eval's task YAMLs name it (``dataset_path``), the tasks that read
    it, and its configs."""

    hub_id: str
    tasks: tuple[str, ...]
    configs: tuple[Config, ...]
    image_format: str = "JPEG"

    @property
    def directory(self) -> Path:
        """Its place under a root: ``<owner>/<name>``, as the hub id reads as a relative path."""
        return Path(*self.hub_id.split("/"))


def _mmbench_config(language: str) -> Config:
    return Config(language, language, ("dev", "test"), mmbench_features,
                  lambda draw, split, n: mmbench_rows(draw, split, n, language))


DATASETS: tuple[HubDataset, ...] = (
    HubDataset("lmms-lab-encoder/POPE", ("pope_random", "pope_pop", "pope_adv"), (
        Config("default", "data", ("test",), pope_features, pope_rows),
        Config("Full", "Full", POPE_CATEGORIES, pope_features, pope_rows),
    )),
    HubDataset("lmms-lab-encoder/GQA", ("gqa",), (
        Config("testdev_balanced_instructions", "testdev_balanced_instructions", ("testdev",),
               gqa_instruction_features, gqa_instruction_rows),
        Config("testdev_balanced_images", "testdev_balanced_images", ("testdev",),
               gqa_image_features, gqa_image_rows),
    )),
    HubDataset("lmms-lab-encoder/ScienceQA", ("scienceqa_img",), (
        Config("ScienceQA-IMG", "ScienceQA-IMG", ("validation", "test"), scienceqa_features, scienceqa_rows),
    ), image_format="PNG"),
    HubDataset("lmms-lab-encoder/SEED-Bench", ("seedbench",), (
        Config("default", "data", ("test",), seedbench_features, seedbench_rows),
    )),
    HubDataset("lmms-lab-encoder/MMBench", ("mmbench_en_dev", "mmbench_en_test", "mmbench_cn_dev"), (
        _mmbench_config("cn"), _mmbench_config("en"),
    ), image_format="PNG"),
    HubDataset("lmms-lab-encoder/MMVet", ("mmvet",), (
        Config("default", "data", ("test",), mmvet_features, mmvet_rows),
    ), image_format="PNG"),
    HubDataset("lmms-lab-encoder/llava-bench-in-the-wild", ("llava_in_the_wild",), (
        Config("default", "data", ("train",), llava_wild_features, llava_wild_rows),
    )),
)
# Tasks whose utils.py load a second config by hub id inside process_docs: the function, by module.
SECOND_DATASET_TASKS = {"gqa": ("lmms_eval.tasks.gqa.utils", "gqa_process_docs")}


def dataset_of_task(task: str) -> HubDataset:
    """The hub dataset lmms-eval's ``task`` reads."""
    for dataset in DATASETS:
        if task in dataset.tasks:
            return dataset
    known = sorted(t for d in DATASETS for t in d.tasks)
    raise KeyError(f"no stand-in dataset for lmms-eval task {task!r}; known: {', '.join(known)}")


# ----------------------------------------------------------------------------- writing

def write_benchmark_datasets(root: Path, images: Sequence[PILImage.Image], *, rows: int = 8,
                             seed: int = 0) -> dict[str, Path]:
    """Write every dataset of ``DATASETS`` under ``root/<owner>/<name>``; returns {hub id: directory}.

    ``rows`` questions per split (MMBench: questions, each with its circular copies), images
    cycled from ``images``, content fixed by ``seed``. Each dataset is written to a temporary
    directory and renamed into place; one already written from the same arguments is kept."""
    if rows < 1 or not images:
        raise ValueError("write_benchmark_datasets needs rows >= 1 and at least one image")
    root = Path(root)
    fingerprints = [image_fingerprint(image) for image in images]
    written = {}
    for dataset in DATASETS:
        stamp = {"layout": LAYOUT_VERSION, "hub_id": dataset.hub_id, "rows": rows, "seed": seed,
                 "images": fingerprints}
        draw = Draw(seed, dataset.hub_id, tuple(images), dataset.image_format)
        written[dataset.hub_id] = write_hub_dataset(root, dataset, draw, rows, stamp)
    write_answer_keys(root, images, rows, seed)
    return written


def write_hub_dataset(root: Path, dataset: HubDataset, draw: Draw, rows: int, stamp: dict[str, Any]) -> Path:
    """``dataset`` under ``root/<owner>/<name>``, written to a temporary directory and renamed into
    place; kept when the copy there was written from the same ``stamp`` (JSON: what it is made from)."""
    directory = Path(root) / dataset.directory
    if _stamp_of(directory) != stamp:
        with storage.atomic_directory(directory, replace=True) as tmp:
            _write_dataset(tmp, dataset, draw, rows)
            storage.atomic_write_json(tmp / STAMP, stamp)
    return directory


# What the MMBench server keeps of its test split: the answer of every row (rotations included), by index.
ANSWER_KEYS = {"mmbench_en_test": ("lmms-lab-encoder/MMBench", "en", "test")}


def answer_key_path(root: Path, task: str) -> Path:
    """Where the stand-in answer key of a submission task lies (outside every dataset copy)."""
    return Path(root) / "answer_keys" / f"{task}.json"


def write_answer_keys(root: Path, images: Sequence[PILImage.Image], rows: int, seed: int) -> None:
    for task, (hub_id, language, split) in ANSWER_KEYS.items():
        dataset = next(d for d in DATASETS if d.hub_id == hub_id)
        draw = Draw(seed, hub_id, tuple(images), dataset.image_format)
        key = {str(row["index"]): row["answer"] for row in mmbench_questions(draw, split, rows, language)}
        storage.atomic_write_json(answer_key_path(root, task), key)


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


def _write_dataset(directory: Path, dataset: HubDataset, draw: Draw, n: int) -> None:
    """Parquet files ``<folder>/<split>-00000-of-00001.parquet`` and the README declaring them."""
    with quiet_datasets():
        sizes = _write_parquet(directory, dataset, draw, n)
    (directory / "README.md").write_text(dataset_card(dataset, sizes), encoding="utf-8")


def _write_parquet(directory: Path, dataset: HubDataset, draw: Draw, n: int) -> dict[str, dict[str, tuple[int, int]]]:
    from datasets import Dataset

    sizes: dict[str, dict[str, tuple[int, int]]] = {}  # config: split: (rows, bytes)
    for config in dataset.configs:
        (directory / config.folder).mkdir(parents=True, exist_ok=True)
        sizes[config.name] = {}
        for split in config.splits:
            table = Dataset.from_list(config.rows(draw, split, n), features=config.features())
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


def dataset_card(dataset: HubDataset, sizes: dict[str, dict[str, tuple[int, int]]]) -> str:
    """The README as ``push_to_hub`` writes it: YAML ``dataset_info`` (features, splits) and
    ``configs`` (``data_files`` per split), which ``load_dataset`` reads for configs and splits."""
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    def info(config: Config) -> DatasetInfo:
        splits = SplitDict({s: SplitInfo(s, num_examples=sizes[config.name][s][0],
                                         num_bytes=sizes[config.name][s][1]) for s in config.splits})
        return DatasetInfo(features=config.features(), config_name=config.name, splits=splits)

    card = DatasetCardData()
    DatasetInfosDict({c.name: info(c) for c in dataset.configs}).to_dataset_card_data(card)
    MetadataConfigs({c.name: {"data_files": [{"split": s, "path": f"{c.folder}/{s}-*"} for s in c.splits]}
                     for c in dataset.configs}).to_dataset_card_data(card)
    return (f"---\n{card.to_yaml()}\n---\n\n# {dataset.hub_id} (stand-in)\n\nMade-up rows in the schema of "
            f"the hub dataset `{dataset.hub_id}`, written by aspo_repro.rehearsal.benchmark_data.\n")


# ----------------------------------------------------------------------------- pointing lmms-eval at them

def task_dataset_overrides(dataset_dirs: dict[str, Path], task_names: Iterable[str]) -> list[dict[str, Any]]:
    """For each lmms-eval task name, the task config that ``get_task_dict`` loads from the local copy.

    ``dataset_path`` is the copy's directory (the YAML's ``dataset_name``, ``test_split`` and
    ``dataset_kwargs`` stay). A task in SECOND_DATASET_TASKS also gets its own lmms-eval
    ``process_docs``, run with the copies' root as working directory (see the module docstring);
    that needs the copies in the layout ``write_benchmark_datasets`` writes."""
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
                         "(write it with write_benchmark_datasets)")
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
