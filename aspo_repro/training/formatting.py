"""From preference rows to the strings TRL's vision collator tokenises.

Each pair becomes TRL's *standard* preference format: ``prompt`` is the processor's chat template
applied to the user turn (with its image placeholder) and the generation prompt; ``chosen`` and
``rejected`` are what the template adds for the assistant turn, ending ``answer</s>`` with the
tokenizer's EOS right after the answer, as LLaVA-1.5 and InstructBLIP were trained (TRL appends
EOS to text-only completions; for vision data it does not, and a model never shown EOS in its
completions is not taught where to stop). When the tokenizer adds a BOS to plain text,
the prompt starts with it too, as the model sees text at generation time. A processor without
a chat template (InstructBLIP) gets the instruction and the response as they are: its processor
puts the query tokens in front of the text itself.

The response's place inside the formatted ``chosen`` string (``response_span``) is kept, so that
the collator can map each completion token to a sentence of the response.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from aspo_repro.errors import UserError
from aspo_repro.models.families import get_family
from aspo_repro.models.prompting import chat_template
from aspo_repro.segmentation import sentence_spans
from aspo_repro.training.preferences import (
    CORRECT,
    SIMILARITY_COLUMN,
    SPANS_COLUMN,
    VERDICT_COLUMN,
    PreferenceSet,
)

FORMATTED_COLUMNS = (
    "prompt",
    "chosen",
    "rejected",
    "response_span",
    "sentence_spans",
    "sentence_similarity",
)


@dataclass(frozen=True)
class FormattedPair:
    prompt: str
    chosen: str
    rejected: str
    response_span: tuple[int, int]  # where the chosen response lies in ``chosen``


@dataclass(frozen=True)
class PairFormatter:
    """Formats pairs for one processor; build it with :meth:`for_processor`."""

    processor: Any
    template: str | None
    bos: str  # prepended to prompts ("" when the tokenizer adds no BOS to plain text)
    eos: str

    @classmethod
    def for_processor(cls, processor, family: str) -> PairFormatter:
        template = chat_template(processor)
        if template is None and get_family(family).image_in_prompt:
            raise UserError(
                f"the {family} processor has no chat template, so the image token cannot be placed "
                "in the prompt"
            )
        tokenizer = processor.tokenizer
        adds_bos = tokenizer.bos_token is not None and tokenizer("a").input_ids[:1] == [
            tokenizer.bos_token_id
        ]
        return cls(
            processor, template, tokenizer.bos_token if adds_bos else "", tokenizer.eos_token or ""
        )

    def format(self, prompt: str, chosen: str, rejected: str) -> FormattedPair:
        texts = (prompt, chosen, rejected)
        if self.template is not None:
            texts = _apply_template(self.processor, self.template, *texts)
        prompt_text = texts[0] if texts[0].startswith(self.bos) else self.bos + texts[0]
        chosen_text, rejected_text = (self.ended(t) for t in texts[1:])
        response = chosen.rstrip()  # trailing whitespace is dropped before the EOS
        start = chosen_text.find(response)
        if start < 0:
            raise UserError(
                "the chat template changes the response text, so its sentences cannot be located "
                f"in the formatted completion {chosen_text[:80]!r}"
            )
        return FormattedPair(prompt_text, chosen_text, rejected_text, (start, start + len(response)))

    def ended(self, completion: str) -> str:
        """``completion`` ending ``answer</s>``: exactly one EOS, right after the answer's last
        character, as LLaVA-1.5 (``llava_v1``: ``" " + answer + "</s>"``) and InstructBLIP (the
        tokenizer's EOS after the answer) were trained. Whitespace after the answer goes: llava-hf's
        template renders the answer as ``answer + ' '``, which would put a space token before EOS.
        A template closing the turn with EOS (and a separator: the mini world's ``"</s> "``, as
        Vicuna's) keeps its one EOS, right after the answer, and loses the separator, which
        belongs between turns."""
        trimmed = completion.rstrip()
        if self.eos and trimmed.endswith(self.eos):
            trimmed = trimmed[: -len(self.eos)].rstrip()
        return trimmed + self.eos


def _apply_template(
    processor, template: str, prompt: str, chosen: str, rejected: str
) -> tuple[str, str, str]:
    from trl.data_utils import apply_chat_template

    example = {
        "prompt": [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}
        ],
        "chosen": [{"role": "assistant", "content": [{"type": "text", "text": chosen}]}],
        "rejected": [{"role": "assistant", "content": [{"type": "text", "text": rejected}]}],
    }
    formatted = apply_chat_template(example, processor, chat_template=template)
    return formatted["prompt"], formatted["chosen"], formatted["rejected"]


def image_token_expansion(processor, prompt_text: str, image) -> int:
    """How many more tokens the processor makes of a prompt once its image is expanded.

    LLaVA-1.5 and InstructBLIP resize every image to one size, so this is one number per run.
    """
    with_image = processor(images=[image], text=[prompt_text], add_special_tokens=False)[
        "input_ids"
    ][0]
    text_only = processor.tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    return len(with_image) - len(text_only)


def format_preferences(
    preferences: PreferenceSet, processor, family: str, max_length: int, on_overlong: str,
    judge_scores: bool = False, verdict_flip: float = 0.0,
):
    """The kept rows in TRL's format, with unit columns; pairs over ``max_length`` handled by policy.

    Returns the dataset (columns ``id``, ``images`` and :data:`FORMATTED_COLUMNS`) and records
    skipped overlong pairs in ``preferences.skipped``. With ``judge_scores`` (``aspo-oracle``) each
    sentence's score is the exact judge's verdict, 1 correct and 0 otherwise, instead of its CLIP
    similarity; ``verdict_flip`` of them flipped (:func:`verdict_weights`).
    """
    dataset = preferences.dataset
    scores = VERDICT_COLUMN if judge_scores else SIMILARITY_COLUMN
    if judge_scores and not preferences.has_verdicts:
        raise UserError(f"{preferences.directory} holds no exact verdicts ({VERDICT_COLUMN}): the judge's "
                        "sentence weights need preference data built in the mini world")
    text = dataset.select_columns(
        [c for c in ("id", "prompt", "chosen", "rejected", SPANS_COLUMN, scores) if c in dataset.column_names]
    ).to_list()
    if judge_scores:
        for row in text:
            row[SIMILARITY_COLUMN] = verdict_weights(row["id"], row.pop(VERDICT_COLUMN), verdict_flip)
    formatter = PairFormatter.for_processor(processor, family)
    pairs = [formatter.format(row["prompt"], row["chosen"], row["rejected"]) for row in text]
    lengths = _pair_lengths(processor, pairs, dataset[0]["images"][0])
    keep = []
    for index, (row, length) in enumerate(zip(text, lengths)):
        if length <= max_length or on_overlong == "truncate":
            keep.append(index)
        elif on_overlong == "error":
            raise UserError(
                f"row {index} (id {row['id']!r}): {length} tokens, longer than max_length {max_length} "
                "(set on_overlong: skip or truncate, or raise max_length)"
            )
        else:
            preferences.skipped.add("longer_than_max_length", str(row["id"]))
    if not keep:
        raise UserError(f"every pair is longer than max_length {max_length}")
    columns = _formatted_columns([text[i] for i in keep], [pairs[i] for i in keep])
    kept = dataset.select_columns(["id", "images"])
    kept = kept.select(keep) if len(keep) < len(kept) else kept
    for name in FORMATTED_COLUMNS:
        kept = kept.add_column(name, columns[name])
    return kept


def verdict_weights(pair_id, verdicts: list[int], flip: float = 0.0) -> list[float]:
    """The judge's verdicts as weights, 1 correct and 0 otherwise, with a share ``flip`` of them flipped.

    Whether a sentence flips is decided by a hash of its pair id and position, not by a seed: every
    training seed sees the same weights, and a sentence flipped at one share is flipped at every larger
    one. A flipped weight ranks a correct sentence below a hallucinated one, so the within-answer AUC
    of the weights is 1 - flip in expectation.
    """
    weights = [1.0 if verdict == CORRECT else 0.0 for verdict in verdicts]
    return [1.0 - w if _uniform(f"{pair_id}:{index}") < flip else w for index, w in enumerate(weights)]


def _uniform(key: str) -> float:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


def _pair_lengths(processor, pairs: list[FormattedPair], first_image) -> list[int]:
    """Prompt (image expanded) plus the longer completion, in tokens, for every pair."""
    tokenizer = processor.tokenizer
    expansion = image_token_expansion(processor, pairs[0].prompt, first_image)

    def lengths(texts: list[str]) -> list[int]:
        return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]

    prompts = lengths([p.prompt for p in pairs])
    chosen = lengths([p.chosen for p in pairs])
    rejected = lengths([p.rejected for p in pairs])
    return [p + expansion + max(c, r) for p, c, r in zip(prompts, chosen, rejected)]


def _formatted_columns(rows: list[dict], pairs: list[FormattedPair]) -> dict[str, list]:
    columns: dict[str, list] = {name: [] for name in FORMATTED_COLUMNS}
    for row, pair in zip(rows, pairs):
        spans = row.get(SPANS_COLUMN) or [list(span) for span in sentence_spans(row["chosen"])]
        columns["prompt"].append(pair.prompt)
        columns["chosen"].append(pair.chosen)
        columns["rejected"].append(pair.rejected)
        columns["response_span"].append(list(pair.response_span))
        columns["sentence_spans"].append([list(span) for span in spans])
        columns["sentence_similarity"].append(row.get(SIMILARITY_COLUMN))
    return columns
