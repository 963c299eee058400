"""SHR, the sentence-level hallucination ratio (HA-DPO's protocol), with pluggable judges.

The model describes an image in detail; the description is split into sentences; a judge
labels each sentence ``hallucination``, ``correct`` or ``cannot judge``; SHR is hallucinated
sentences over labelled sentences, ``cannot judge`` included, summed over all images (lower is
better), as HA-DPO's metric counts them. A sentence the judge gave no usable label at all (a GPT
reply that could not be parsed) is left out of both counts.

Two judges share this path:

- :class:`RuleJudge` (mini profile): the mini world's exact rule judge against the scene, on
  pysbd sentences (the units ASPO weights). A sentence outside the world's grammar is ``cannot
  judge``: it counts in SHR's denominator, as a sentence GPT cannot judge counts in HA-DPO's.
- :class:`OpenAIJudge` (paper profile): a GPT model behind any OpenAI-compatible API, given the
  image's Visual Genome region descriptions and HA-DPO's factual notes, on HA-DPO's sentence
  split (at full stops, repeated sentences dropped), in one request per description.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from aspo_repro import storage
from aspo_repro.errors import UserError
from aspo_repro.files import read_text

HALLUCINATION, CORRECT, CANNOT_JUDGE = "hallucination", "correct", "cannot judge"
LABELS = (HALLUCINATION, CORRECT, CANNOT_JUDGE)

API_KEY_ENV = "OPENAI_API_KEY"
BASE_URL_ENV = "OPENAI_BASE_URL"
JUDGE_MODEL_ENV = "ASPO_SHR_JUDGE_MODEL"
DEFAULT_JUDGE_MODEL = "gpt-4"  # HA-DPO's judge


@dataclass(frozen=True)
class SentenceVerdict:
    sentence: str
    label: str | None  # one of LABELS, or None when the judge gave no usable label


class SentenceJudge(Protocol):
    name: str

    def judge(self, response: str, doc: dict[str, Any]) -> list[SentenceVerdict]: ...


def shr_record(response: str, doc: dict[str, Any], judge: SentenceJudge) -> dict[str, Any]:
    """The per-description record the ``shr`` metric aggregates (``metrics.SHR``)."""
    verdicts = judge.judge(response, doc)
    labelled = [v for v in verdicts if v.label in LABELS]
    return {
        "id": doc.get("id"),
        "hallucinated": sum(v.label == HALLUCINATION for v in labelled),
        "correct": sum(v.label == CORRECT for v in labelled),
        "judged": len(labelled),
        "sentences": len(verdicts),
        "verdicts": [[v.sentence, v.label] for v in verdicts],
        "judge": judge.name,
    }


# ----------------------------------------------------------------------------- mini world

@dataclass(frozen=True)
class RuleJudge:
    """The mini world's exact judge; ``doc["scene"]`` is the scene's ground truth."""

    name: str = "mini-world rule judge"

    def judge(self, response: str, doc: dict[str, Any]) -> list[SentenceVerdict]:
        from aspo_repro.miniworld.judge import judge_description
        from aspo_repro.miniworld.scene import Scene

        verdicts = judge_description(response, Scene.from_dict(doc["scene"]))
        return [SentenceVerdict(v.sentence, _rule_label(v.hallucinated)) for v in verdicts]


def _rule_label(hallucinated: bool | None) -> str:
    if hallucinated is None:
        return CANNOT_JUDGE
    return HALLUCINATION if hallucinated else CORRECT


# ----------------------------------------------------------------------------- paper profile

def split_like_ha_dpo(text: str) -> list[str]:
    """HA-DPO's sentence split: at every full stop, stripped, a sentence already seen (or
    contained in one seen) dropped, each ending with a full stop."""
    kept: list[str] = []
    for piece in text.split("."):
        sentence = piece.strip()
        if not sentence or any(sentence in seen for seen in kept):
            continue
        kept.append(sentence)
    return [f"{sentence}." for sentence in kept]


# Paraphrases HA-DPO's judge prompt (ha_dpo/shr_eval/gpt_utils.py) and keeps its answer format,
# which parse_judgement reads; read_judge_prompt takes the verbatim one from an HA-DPO checkout.
# Its three placeholders, in order: the region descriptions, the factual notes, the comments.
JUDGE_PROMPT = """\
Judge whether each comment about an image is a hallucination or correct.
Below is a list of region descriptions of the image, each written as [x1, y1, x2, y2]: description, \
where [x1, y1, x2, y2] is the region's bounding box; strongly overlapping boxes may show the same object. \
This is the ground truth of the image. Below it is factual information about the image, which is fully \
accurate. Base your judgement on this information. It only describes the objects in the image, so it \
cannot settle subjective statements (atmosphere, style, emotion); for those answer "cannot judge".
Judge the numbered comments one by one and give a reason for each.

Your output must be:
Judgement:
1. hallucination or correct or cannot judge: <reason>
2. ...

Region descriptions of the image:
{}

Factual information:
{}

The comments to judge (hallucination, correct, or cannot judge):
{}
"""
PROMPT_PLACEHOLDERS = 3


def judge_prompt(sentences: Sequence[str], doc: dict[str, Any], template: str = JUDGE_PROMPT) -> str:
    comments = "\n".join(f"{i}. {s[:-1] if s.endswith('.') else s}" for i, s in enumerate(sentences, 1))
    return template.format(doc.get("regions", ""), doc.get("factual", ""), comments)


def read_judge_prompt(path: str | os.PathLike) -> str:
    """HA-DPO's judge prompt, verbatim: from its ``ha_dpo/shr_eval/gpt_utils.py`` (the one string
    constant there that asks for a ``Judgement:`` and has three ``{}`` placeholders), or from a text
    file holding it."""
    path = Path(path)
    text = read_text(path, "SHR judge prompt")
    if path.suffix == ".py":
        found = [c for c in _string_constants(path, text) if "Judgement" in c and _placeholders(c) == PROMPT_PLACEHOLDERS]
        if len(found) != 1:
            raise UserError(f"{path}: expected one judge prompt (a string with 'Judgement' and three {{}} "
                            f"placeholders), found {len(found)}; save the prompt as a text file and give that")
        text = found[0]
    if _placeholders(text) != PROMPT_PLACEHOLDERS:
        raise UserError(f"{path}: a judge prompt needs three {{}} placeholders (regions, facts, comments); "
                        f"found {_placeholders(text)}")
    return text


def _string_constants(path: Path, source: str) -> list[str]:
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise UserError(f"{path} is not Python source ({error.msg}, line {error.lineno})") from None
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def _placeholders(template: str) -> int:
    import string

    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError:
        return -1
    return len(fields) if all(name == "" for name in fields) else -1


def parse_judgement(reply: str, count: int) -> list[str | None]:
    """Labels from a judge's reply: the numbered lines after ``Judgement:``, the words before
    each line's first colon. A reply without exactly ``count`` lines labels nothing."""
    lines = [line.strip() for line in reply.splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if re.match(r"judge?ment\s*:", line, re.I)), None)
    if start is None:
        return [None] * count
    labels = []
    for line in lines[start + 1:]:
        body = re.sub(r"^\d+[.)]\s*", "", line)
        labels.append(body.split(":")[0].strip().strip("*").lower())
    if len(labels) != count:
        return [None] * count
    return [label if label in LABELS else None for label in labels]


@dataclass
class OpenAIJudge:
    """A GPT judge behind an OpenAI-compatible chat API (HA-DPO's settings by default)."""

    model: str = DEFAULT_JUDGE_MODEL
    api_key: str | None = None
    base_url: str | None = None
    temperature: float = 0.7  # HA-DPO's decoding settings
    max_tokens: int = 800
    attempts: int = 3
    client: Any = None  # an ``openai.OpenAI``-like client; built from the key when None
    served_models: set[str] = field(default_factory=set)  # model versions the API reported
    prompt_template: str = JUDGE_PROMPT  # HA-DPO's verbatim prompt when read_judge_prompt was given it

    @classmethod
    def from_env(cls, prompt_template: str = JUDGE_PROMPT) -> OpenAIJudge:
        key = os.environ.get(API_KEY_ENV)
        if not key:
            raise UserError(f"the SHR judge needs an OpenAI-compatible API key: set {API_KEY_ENV} "
                            f"(and {BASE_URL_ENV} for a server other than OpenAI's)")
        return cls(model=os.environ.get(JUDGE_MODEL_ENV, DEFAULT_JUDGE_MODEL), api_key=key,
                   base_url=os.environ.get(BASE_URL_ENV), prompt_template=prompt_template)

    @property
    def name(self) -> str:
        served = ",".join(sorted(self.served_models)) or self.model
        return f"{served} via {self.base_url or 'api.openai.com'}"

    def _client(self):
        if self.client is None:
            from openai import OpenAI

            self.client = OpenAI(api_key=self.api_key, base_url=self.base_url)
        return self.client

    def ask(self, prompt: str) -> str:
        response = self._client().chat.completions.create(
            model=self.model, messages=[{"role": "user", "content": prompt}],
            temperature=self.temperature, max_tokens=self.max_tokens,
        )
        self.served_models.add(getattr(response, "model", None) or self.model)
        return response.choices[0].message.content or ""

    def judge(self, response: str, doc: dict[str, Any]) -> list[SentenceVerdict]:
        sentences = split_like_ha_dpo(response)
        if not sentences:
            return []
        labels: list[str | None] = [None] * len(sentences)
        for _ in range(self.attempts):
            labels = parse_judgement(self.ask(judge_prompt(sentences, doc, self.prompt_template)), len(sentences))
            if any(label is not None for label in labels):
                break
        return [SentenceVerdict(s, label) for s, label in zip(sentences, labels)]


# ----------------------------------------------------------------------------- SHR data (paper)

def prepare_shr_docs(shr_dir: str | os.PathLike, vg_dir: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write the ``shr`` task's documents from HA-DPO's SHR files and Visual Genome.

    ``shr_dir`` holds HA-DPO's ``val_images_final.json`` and ``shr_factual_part{1,2}.jsonl``;
    ``vg_dir`` holds Visual Genome's ``image_data.json``, ``region_descriptions.json`` and images.
    Each document: id, absolute image path, the prompt, the region descriptions with boxes
    normalised to [0, 1] (two decimals), and the factual notes.
    """
    shr_dir, vg_dir = Path(shr_dir), Path(vg_dir)
    val_images = _read_json(shr_dir / "val_images_final.json")
    images = {item["image_id"]: item for item in _read_json(vg_dir / "image_data.json")}
    regions = {entry["regions"][0]["image_id"]: entry["regions"]
               for entry in _read_json(vg_dir / "region_descriptions.json") if entry.get("regions")}
    factual = _read_factual(shr_dir)
    lines = []
    for item in val_images:
        image_id = int(item["image_id"])
        info = images[image_id]
        lines.append(json.dumps({
            "id": str(image_id),
            "image": str(vg_dir / Path(info["url"]).parent.name / Path(info["url"]).name),
            "question": "Describe this image in detail.",
            "regions": _region_text(regions.get(image_id, []), info["width"], info["height"]),
            "factual": "".join(f"{text}\n" for text in factual.get(str(image_id), [])),
        }))
    return storage.atomic_write_text(out, "\n".join(lines) + "\n")


def _read_json(path: Path) -> Any:
    from aspo_repro.files import read_json

    if not path.is_file():
        raise UserError(f"missing {path}: see HA-DPO's ha_dpo/shr_eval/README.md for the SHR and Visual Genome files")
    return read_json(path, "SHR source file")


def _read_factual(shr_dir: Path) -> dict[str, list[str]]:
    factual: dict[str, list[str]] = {}
    for part in ("shr_factual_part1.jsonl", "shr_factual_part2.jsonl"):
        path = shr_dir / part
        if not path.is_file():
            raise UserError(f"missing {path}: see HA-DPO's ha_dpo/shr_eval/README.md")
        for number, line in enumerate(read_text(path, "SHR factual file").splitlines(), 1):
            if line.strip():
                factual.update(_json_line(path, number, line))
    return factual


def _json_line(path: Path, number: int, line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as error:
        raise UserError(f"SHR factual file {path}, line {number}, is not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise UserError(f"SHR factual file {path}, line {number}, must hold a JSON object")
    return value


def _region_text(regions: list[dict[str, Any]], width: float, height: float) -> str:
    lines = []
    for region in regions:
        if not region.get("phrase"):
            continue
        box = [region["x"] / width, region["y"] / height,
               (region["x"] + region["width"]) / width, (region["y"] + region["height"]) / height]
        lines.append(f"{[round(v, 2) for v in box]}: {region['phrase']}")
    return "".join(f"{line}\n" for line in lines)
