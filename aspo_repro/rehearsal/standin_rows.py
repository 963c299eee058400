"""Made-up rows of the benchmarks' hub datasets, in their schemas (``hub_schemas.py``), for the
rehearsal's stand-ins (``benchmark_data.py``). Each row function's docstring says which lmms-eval
code reads which column; columns no lmms-eval code reads are kept for the schema, with made-up values.
"""

from __future__ import annotations

import io
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aspo_repro.evaluation.metrics import ROTATION_OFFSET
from aspo_repro.rehearsal.hub_schemas import LETTERS, POPE_CATEGORIES

OBJECTS = ("dog", "cat", "car", "chair", "person", "bottle", "cup", "bicycle", "umbrella", "bus")
COLOURS = ("red", "blue", "green", "yellow", "white", "black")


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
                "index": base + i + r * ROTATION_OFFSET, "question": question,
                "hint": None if i % 2 else hint,
                "answer": LETTERS[(right - r) % len(options)],
                **{c: (rotated[k] if k < len(rotated) else None) for k, c in enumerate(LETTERS)},
                "category": "image_scene", "image": draw.image(i), "source": "MMBench",
                "L2-category": "coarse_perception", "comment": None, "split": split})
    return rows


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
