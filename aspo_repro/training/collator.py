"""TRL's vision preference collator, plus the unit of every chosen completion token.

``DataCollatorForVisionPreference`` tokenises prompts (left-padded, with images) and completions
(right-padded), concatenates them, flushes left and truncates to ``max_length``. This collator
lets it do all of that, closes padding gaps TRL leaves inside InstructBLIP's rows
(:func:`close_padding_gaps`), then reads where the chosen completion tokens ended up (the chosen
rows' ``completion_mask``), tokenises each chosen string again with character offsets, checks
that the ids agree token for token, and writes the unit of each token at its final position:

- ``chosen_unit_ids`` (B, L) long, aligned with ``input_ids[:B]``: the unit (sentence, token or 0
  for the whole response) of each chosen completion token, -1 elsewhere;
- ``unit_similarity`` (B, K) float, or (B,) at response granularity: the image-text similarity of
  each unit, read from the data or scored (and cached) when absent; only for methods with alpha > 0.

With ``pack_pairs`` the 2B rows become B rows, one per pair, its prompt shared
(:mod:`aspo_repro.training.packing`). When the examples carry cached reference log-probs
(:mod:`aspo_repro.training.reference_cache`), ``ref_token_logps`` holds them at the positions
whose next-token log-prob they are: (2B, L-1) like ``completion_mask[:, 1:]``, or (B, Lp) packed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from trl.trainer.dpo_trainer import DataCollatorForVisionPreference

from aspo_repro.errors import UserError
from aspo_repro.methods import GRANULARITIES
from aspo_repro.segmentation import token_units
from aspo_repro.training.packing import pack_pairs, place_token_values

TRL_COLUMNS = ("images", "prompt", "chosen", "rejected")
UNIT_COLUMNS = ("response_span", "sentence_spans", "sentence_similarity")
REFERENCE_COLUMNS = ("ref_chosen_token_logps", "ref_rejected_token_logps")


@dataclass
class ChosenText:
    """What the collator needs of one chosen completion to find its units."""

    text: str
    response_span: tuple[int, int]
    sentence_spans: list[tuple[int, int]]  # relative to the response
    similarity: list[float] | None
    image: Any

    @property
    def response(self) -> str:
        start, end = self.response_span
        return self.text[start:end]

    def absolute_spans(self) -> list[tuple[int, int]]:
        start = self.response_span[0]
        return [(start + s, start + e) for s, e in self.sentence_spans]


@dataclass
class UnitCollator(DataCollatorForVisionPreference):
    """``DataCollatorForVisionPreference`` that also emits unit ids and unit similarities.

    granularity: ``sentence``, ``token`` or ``response``; None (DPO) adds nothing.
    scorer: a :class:`~aspo_repro.training.similarity.CachedScorer`, when similarities are used.
    use_data_similarity: take ``sentence_similarity`` from the data where a row has it.
    """

    granularity: str | None = None
    needs_similarity: bool = False
    scorer: Any = None
    use_data_similarity: bool = True
    pack_pairs: bool = False

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        chosen = [self._chosen_text(example) for example in examples] if self.granularity else []
        output = super().torch_call(
            [{key: example[key] for key in TRL_COLUMNS} for example in examples]
        )
        close_padding_gaps(output)
        if self.granularity:
            token_units = self._token_units(output, chosen)
            output["chosen_unit_ids"] = token_units.unit_ids
            if self.needs_similarity:
                output["unit_similarity"] = self._similarity(chosen, token_units.token_texts)
        if self.pack_pairs:
            output = pack_pairs(output, self.processor.tokenizer.pad_token_id)
        if all(column in examples[0] for column in REFERENCE_COLUMNS):
            output["ref_token_logps"] = reference_token_logps(output, examples)
        return output

    def unit_similarities(self, example: dict[str, Any]) -> list[float]:
        """The similarity of each unit of one formatted example's chosen response, as a batch gives it
        to the loss (a granularity whose units the data holds: sentences)."""
        return self._similarity([self._chosen_text(example)], [[]])[0].tolist()

    def _chosen_text(self, example: dict[str, Any]) -> ChosenText:
        if any(key not in example for key in UNIT_COLUMNS):
            raise ValueError(
                f"a unit collator needs the columns {UNIT_COLUMNS}; see training.formatting"
            )
        return ChosenText(
            text=example["chosen"],
            response_span=tuple(example["response_span"]),
            sentence_spans=[tuple(span) for span in example["sentence_spans"]],
            similarity=example["sentence_similarity"],
            image=example["images"][0],
        )

    def _token_units(self, output: dict[str, Any], chosen: list[ChosenText]) -> _TokenUnits:
        batch = len(chosen)
        input_ids = output["input_ids"][:batch]
        completion = output["completion_mask"][:batch].bool()
        unit_ids = torch.full_like(input_ids, -1)
        token_texts = []
        for row, item in enumerate(chosen):
            positions = completion[row].nonzero().squeeze(-1)
            ids, offsets = self._tokenise(item.text, len(positions))
            if ids != input_ids[row, positions].tolist():
                raise RuntimeError(
                    f"chosen tokens of batch row {row} do not match TRL's collated ids; cannot align units"
                )
            units = self._units(item, offsets)
            unit_ids[row, positions] = torch.tensor(units, dtype=unit_ids.dtype)
            token_texts.append([item.text[start:end] for start, end in offsets])
        return _TokenUnits(unit_ids, token_texts)

    def _tokenise(self, text: str, count: int) -> tuple[list[int], list[tuple[int, int]]]:
        tokenizer = self.processor.tokenizer
        if not getattr(tokenizer, "is_fast", False):
            raise UserError(
                f"{type(tokenizer).__name__} is not a fast tokenizer: sentence units need character offsets"
            )
        encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return list(encoded["input_ids"][:count]), [
            tuple(o) for o in encoded["offset_mapping"][:count]
        ]

    def _units(self, item: ChosenText, offsets: list[tuple[int, int]]) -> list[int]:
        return token_units(self.granularity, item.text, offsets, item.absolute_spans())

    def _similarity(self, chosen: list[ChosenText], token_texts: list[list[str]]) -> torch.Tensor:
        """(B, K) similarities of each row's units, zero-padded; (B,) when a response is one unit."""
        unit = GRANULARITIES[self.granularity]
        if not unit.within_response:
            return torch.tensor([self._score(item, [item.response])[0] for item in chosen])
        rows = []
        for item, texts in zip(chosen, token_texts):
            if unit.stored_in_data and self.use_data_similarity and item.similarity is not None:
                rows.append([float(v) for v in item.similarity])
            else:
                rows.append(self._score(item, UNIT_TEXTS[unit.name](item, texts)))
        width = max(1, max(len(row) for row in rows))
        return torch.tensor([row + [0.0] * (width - len(row)) for row in rows], dtype=torch.float32)

    def _score(self, item: ChosenText, texts: list[str]) -> list[float]:
        if self.scorer is None:
            raise UserError(
                "this method needs image-text similarities that the data does not hold, and no scorer was given"
            )
        return self.scorer(item.image, texts)


# The texts a granularity's units are scored by: each sentence of the response, or each token.
UNIT_TEXTS = {
    "sentence": lambda item, token_texts: [
        item.response[s:e] for s, e in item.sentence_spans
    ] or [item.response],
    "token": lambda item, token_texts: token_texts,
}


def reference_token_logps(batch: dict[str, Any], examples: list[dict[str, Any]]) -> torch.Tensor:
    """The examples' cached reference log-probs at the positions that predict their tokens."""
    chosen, rejected = ([example[column] for example in examples] for column in REFERENCE_COLUMNS)
    if "chosen_targets" in batch:
        return place_token_values(chosen, batch["chosen_targets"]) + place_token_values(
            rejected, batch["rejected_targets"]
        )
    return place_token_values(chosen + rejected, batch["completion_mask"][:, 1:].bool())


SEQUENCE_GROUPS = (
    ("attention_mask", ("input_ids", "completion_mask", "token_type_ids", "mm_token_type_ids")),
    ("qformer_attention_mask", ("qformer_input_ids",)),
)


def close_padding_gaps(batch: dict[str, Any]) -> None:
    """Move padding that sits between tokens to the end of its row, in place.

    TRL flushes left only the padding in front of a row. InstructBLIP's processor puts its query
    tokens in front of the left-padded prompt, leaving the padding in the middle, where it would
    shift the positions of every later token (the model numbers positions by index). LLaVA's rows
    have no gaps after TRL's flush-left and are left as they are.
    """
    for mask_key, keys in SEQUENCE_GROUPS:
        mask = batch.get(mask_key)
        if mask is None or not has_gaps(mask):
            continue
        order = torch.argsort((mask == 0).to(torch.int8), dim=1, stable=True)
        for key in (mask_key, *keys):
            if key in batch:
                batch[key] = batch[key].gather(1, order)


def has_gaps(mask: torch.Tensor) -> bool:
    """Whether some row has a padded position before an attended one."""
    seen_padding = (mask == 0).to(torch.int8).cummax(dim=1).values.bool()
    return bool((seen_padding & (mask != 0)).any())


@dataclass
class _TokenUnits:
    unit_ids: torch.Tensor
    token_texts: list[list[str]]
