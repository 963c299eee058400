"""One sequence per pair: the prompt (with its image) once, then the chosen and the rejected completion.

TRL's vision collator makes two rows of each pair, ``[prompt | chosen]`` and ``[prompt | rejected]``,
so the prompt, and for LLaVA its 576 image tokens and the vision tower's pass, are computed twice.
A packed row holds them once::

    tokens    p_0 .. p_{P-2}  p_{P-1}  c_0 .. c_{C-1}  p_{P-1}  r_0 .. r_{R-1}  pad ..
    segment   0  ..  0        1        1  ..  1        2        2  ..  2        -1
    position  0  ..  P-2      P-1      P  ..  P+C-1    P-1      P  ..  P+R-1    0

A token attends to the earlier tokens of its own segment and to segment 0 (:func:`attention_mask`).
The last prompt token is repeated at the head of the rejected segment, at its own position, so that
it predicts the first rejected token as the original predicts the first chosen one. Every token
then sees exactly the context, at exactly the positions, that it has in its own unpacked row: the
hidden states, log-probs, loss and gradients are those of the two-row layout (to float rounding),
for fewer tokens. With LoRA dropout above 0 the dropout masks would differ (the prompt is seen once,
not twice), so the trainer packs only when LoRA dropout is 0.

The packed batch scores positions with pre-shifted labels: ``target_ids[i, j]`` is the token that
position ``j`` predicts (-100 where none), and ``chosen_targets`` / ``rejected_targets`` mark the
positions whose target is a chosen / rejected completion token.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

PROMPT, CHOSEN, REJECTED, PADDING = 0, 1, 2, -1
ROW_KEYS = ("input_ids", "attention_mask", "completion_mask")
PER_PAIR_KEYS = ("unit_similarity",)


@dataclass
class PackedRow:
    input_ids: Tensor
    position_ids: Tensor
    segment_ids: Tensor
    chosen_targets: Tensor  # positions (indices into the row) whose target is a chosen token
    rejected_targets: Tensor


def split_row(
    input_ids: Tensor, attention_mask: Tensor, completion_mask: Tensor
) -> tuple[Tensor, Tensor]:
    """The prompt and completion tokens of one flushed-left row ``[prompt | completion | pad]``."""
    length = int(attention_mask.sum())
    completion = completion_mask[:length].bool()
    prompt_length = int((~completion).sum())
    if (
        prompt_length == 0
        or bool((~completion[prompt_length:]).any())
        or bool(attention_mask[:length].eq(0).any())
    ):
        raise ValueError("a row is not [prompt | completion | padding]; cannot share its prompt")
    return input_ids[:prompt_length], input_ids[prompt_length:length]


def pack_row(prompt: Tensor, chosen: Tensor, rejected: Tensor) -> PackedRow:
    """One packed row (the layout of the module docstring), without padding."""
    P, C, R = len(prompt), len(chosen), len(rejected)
    input_ids = torch.cat([prompt, chosen, prompt[-1:], rejected])
    position_ids = torch.cat([_span(P), _span(C, P), _span(1, P - 1), _span(R, P)])
    segment_ids = torch.cat(
        [
            torch.full((P - 1,), PROMPT),
            torch.full((1 + C,), CHOSEN),
            torch.full((1 + R,), REJECTED),
        ]
    )
    return PackedRow(
        input_ids=input_ids,
        position_ids=position_ids,
        segment_ids=segment_ids,
        chosen_targets=_span(C, P - 1),
        rejected_targets=_span(R, P + C),
    )


def _span(count: int, start: int = 0) -> Tensor:
    return torch.arange(start, start + count, dtype=torch.long)


def pack_pairs(batch: dict[str, Tensor], pad_token_id: int) -> dict[str, Tensor]:
    """A collated batch of 2B rows ``[chosen rows; rejected rows]`` as B packed rows.

    Returns ``input_ids``, ``position_ids``, ``segment_ids`` and ``target_ids`` (B, Lp) long,
    ``chosen_targets`` and ``rejected_targets`` (B, Lp) bool; ``chosen_unit_ids`` (B, L), when
    present, moved to the chosen targets (-1 elsewhere); ``unit_similarity`` as it is; and each
    other tensor (the image inputs) for the first B rows, after checking that both halves agree.
    """
    pairs = batch["input_ids"].shape[0] // 2
    rows = []
    for i in range(pairs):
        prompt, chosen = split_row(*(batch[k][i] for k in ROW_KEYS))
        other_prompt, rejected = split_row(*(batch[k][pairs + i] for k in ROW_KEYS))
        if not torch.equal(prompt, other_prompt):
            raise ValueError(f"pair {i}: the chosen and rejected rows have different prompts")
        rows.append(pack_row(prompt, chosen, rejected))
    packed = _pad_rows(rows, pad_token_id)
    for key, value in batch.items():
        if key == "chosen_unit_ids":
            completion = batch["completion_mask"][:pairs].bool()
            units = [value[i][completion[i]] for i in range(pairs)]
            packed[key] = place_token_values(units, packed["chosen_targets"], -1, torch.long)
        elif key in PER_PAIR_KEYS:
            packed[key] = value
        elif key not in ROW_KEYS:
            packed[key] = _first_half(key, value, pairs)
    return packed


def _first_half(key: str, value: Tensor, pairs: int) -> Tensor:
    if value.shape[0] != 2 * pairs:
        raise ValueError(
            f"cannot share the prompt of a batch whose {key!r} has {value.shape[0]} rows"
        )
    if not torch.equal(value[:pairs], value[pairs:]):
        raise ValueError(f"the chosen and rejected rows of a pair have different {key!r}")
    return value[:pairs]


def _pad_rows(rows: list[PackedRow], pad_token_id: int) -> dict[str, Tensor]:
    width = max(len(row.input_ids) for row in rows)
    shape = (len(rows), width)
    input_ids = torch.full(shape, pad_token_id, dtype=torch.long)
    position_ids = torch.zeros(shape, dtype=torch.long)
    segment_ids = torch.full(shape, PADDING, dtype=torch.long)
    target_ids = torch.full(shape, -100, dtype=torch.long)
    chosen_targets = torch.zeros(shape, dtype=torch.bool)
    rejected_targets = torch.zeros(shape, dtype=torch.bool)
    for i, row in enumerate(rows):
        n = len(row.input_ids)
        input_ids[i, :n] = row.input_ids
        position_ids[i, :n] = row.position_ids
        segment_ids[i, :n] = row.segment_ids
        for targets, mask in (
            (row.chosen_targets, chosen_targets),
            (row.rejected_targets, rejected_targets),
        ):
            target_ids[i, targets] = row.input_ids[targets + 1]
            mask[i, targets] = True
    return {
        "input_ids": input_ids,
        "position_ids": position_ids,
        "segment_ids": segment_ids,
        "target_ids": target_ids,
        "chosen_targets": chosen_targets,
        "rejected_targets": rejected_targets,
    }


def place_token_values(
    values: list, mask: Tensor, fill: float = 0.0, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Per-row values, in order, at the True positions of ``mask`` (N, L); ``fill`` elsewhere."""
    out = torch.full(mask.shape, fill, dtype=dtype)
    for row, row_values in enumerate(values):
        positions = mask[row].nonzero().squeeze(-1)
        row_values = torch.as_tensor(row_values, dtype=dtype)
        if len(row_values) != len(positions):
            raise ValueError(
                f"row {row}: {len(row_values)} per-token values for {len(positions)} completion tokens"
            )
        out[row, positions] = row_values
    return out


def attention_mask(segment_ids: Tensor, dtype: torch.dtype) -> Tensor:
    """The (B, 1, L, L) mask of packed rows: boolean (True: attend) or additive (0: attend).

    Query q attends key k when k <= q and k's segment is the prompt's or q's own; padding attends
    itself only (a row with no key would make attention's softmax NaN).
    """
    length = segment_ids.shape[1]
    query, key = segment_ids.unsqueeze(2), segment_ids.unsqueeze(1)
    causal = torch.ones(length, length, dtype=torch.bool, device=segment_ids.device).tril()
    same_or_prompt = (key == query) | (key == PROMPT)
    allowed = causal & same_or_prompt & (key != PADDING) & (query != PADDING)
    allowed |= torch.eye(length, dtype=torch.bool, device=segment_ids.device)
    if dtype == torch.bool:
        return allowed.unsqueeze(1)
    mask = torch.zeros(allowed.shape, dtype=dtype, device=segment_ids.device)
    return mask.masked_fill_(~allowed, torch.finfo(dtype).min).unsqueeze(1)
