"""ASPO's loss step against DPO's on a realistic batch, measured in the same run.

A realistic batch (issue: "8 pairs, 768 tokens, about 8 sentences each"): 8 chosen and 8 rejected
completions of up to 768 tokens, the chosen ones split into about 8 sentences of uneven length,
with CLIP similarities per sentence. Two levels are timed, forward and backward each:

- ``core``: from per-token log-probs to the loss (the loss functions alone);
- ``step``: from the policy's logits over the vocabulary (LLaVA-1.5's 32064 by default) to the
  loss, with TRL's ``selective_log_softmax`` for the per-token log-probs: the loss step of a
  training step, which is what ASPO adds its work to.

Prints median milliseconds and the ratio ASPO / DPO per level; ``--check`` exits 1 when either
ratio exceeds ``--max-ratio`` (1.5). ``--vocab 0`` skips the step level (it needs about 5 GB).

    python benchmarks/loss_speed.py [--vocab 32064] [--repeats 5] [--check]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass

import torch

from aspo_repro.losses import ResponseLogps, aspo_loss, dpo_loss
from aspo_repro.methods import AspoOptions

PAIRS, TOKENS, SENTENCES, BETA = 8, 768, 8, 0.1


@dataclass
class Batch:
    chosen_len: torch.Tensor
    rejected_len: torch.Tensor
    units: torch.Tensor
    similarity: torch.Tensor
    chosen_ids: torch.Tensor
    rejected_ids: torch.Tensor


def realistic_batch(seed: int = 0, vocab: int = 32064) -> Batch:
    gen = torch.Generator().manual_seed(seed)
    chosen_len = torch.randint(TOKENS // 2, TOKENS + 1, (PAIRS,), generator=gen)
    rejected_len = torch.randint(TOKENS // 2, TOKENS + 1, (PAIRS,), generator=gen)
    units = torch.full((PAIRS, TOKENS), -1, dtype=torch.long)
    for row, length in enumerate(chosen_len.tolist()):
        cuts = torch.sort(torch.randperm(length - 1, generator=gen)[: SENTENCES - 1] + 1).values.tolist()
        bounds = [0, *cuts, length]
        for unit, (start, end) in enumerate(zip(bounds, bounds[1:])):
            units[row, start:end] = unit
    similarity = torch.rand(PAIRS, SENTENCES, generator=gen) * 0.4
    chosen_ids = torch.randint(0, vocab, (PAIRS, TOKENS), generator=gen)
    rejected_ids = torch.randint(0, vocab, (PAIRS, TOKENS), generator=gen)
    return Batch(chosen_len, rejected_len, units, similarity, chosen_ids, rejected_ids)


def mask_of(lengths: torch.Tensor) -> torch.Tensor:
    return torch.arange(TOKENS)[None, :] < lengths[:, None]


def core_inputs(batch: Batch, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    def side(lengths):
        policy = -torch.rand(PAIRS, TOKENS, generator=gen) * 4
        reference = policy + 0.1 * torch.randn(PAIRS, TOKENS, generator=gen)
        return policy.requires_grad_(True), reference, mask_of(lengths)
    return side(batch.chosen_len), side(batch.rejected_len)


def run_core(method: str, batch: Batch, inputs) -> None:
    (cp, cr, cm), (rp, rr, rm) = inputs
    chosen, rejected = ResponseLogps(cp, cr, cm), ResponseLogps(rp, rr, rm)
    if method == "dpo":
        out = dpo_loss(chosen, rejected, BETA)
    else:
        out = aspo_loss(chosen, rejected, batch.units, AspoOptions(alpha=0.5), beta=BETA, similarity=batch.similarity, num_units=SENTENCES)
    out.loss.backward()
    cp.grad = rp.grad = None


def step_inputs(batch: Batch, vocab: int, seed: int = 2):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(2 * PAIRS, TOKENS, vocab, generator=gen).requires_grad_(True)
    reference = -torch.rand(2 * PAIRS, TOKENS, generator=gen) * 4
    return logits, reference


def run_step(method: str, batch: Batch, inputs) -> None:
    from trl.trainer.utils import selective_log_softmax

    logits, reference = inputs
    ids = torch.cat([batch.chosen_ids, batch.rejected_ids])
    logps = selective_log_softmax(logits, ids)
    chosen = ResponseLogps(logps[:PAIRS], reference[:PAIRS], mask_of(batch.chosen_len))
    rejected = ResponseLogps(logps[PAIRS:], reference[PAIRS:], mask_of(batch.rejected_len))
    if method == "dpo":
        out = dpo_loss(chosen, rejected, BETA)
    else:
        out = aspo_loss(chosen, rejected, batch.units, AspoOptions(alpha=0.5), beta=BETA, similarity=batch.similarity, num_units=SENTENCES)
    out.loss.backward()
    logits.grad = None


def median_ms(fn, repeats: int) -> dict[str, float]:
    """Interleave the two methods so drift in machine load hits both alike."""
    times: dict[str, list[float]] = {"dpo": [], "aspo": []}
    for method in times:  # warm-up
        fn(method)
    for _ in range(repeats):
        for method in times:
            start = time.perf_counter()
            fn(method)
            times[method].append((time.perf_counter() - start) * 1000)
    return {method: statistics.median(values) for method, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocab", type=int, default=32064)
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats of the step level (the core level runs 20x as many)")
    parser.add_argument("--max-ratio", type=float, default=1.5)
    parser.add_argument("--check", action="store_true", help="exit 1 when a ratio exceeds --max-ratio")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    batch = realistic_batch(vocab=max(args.vocab, 1))
    core = core_inputs(batch)
    core_ms = median_ms(lambda m: run_core(m, batch, core), args.repeats * 20)
    levels = {"core": core_ms}
    if args.vocab:
        step = step_inputs(batch, args.vocab)
        levels["step"] = median_ms(lambda m: run_step(m, batch, step), args.repeats)
    print(f"batch: {PAIRS} pairs x {TOKENS} tokens, {SENTENCES} sentences per chosen response, vocab {args.vocab}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'level':<6} {'dpo ms':>10} {'aspo ms':>10} {'ratio':>7}")
    failed = False
    for level, ms in levels.items():
        ratio = ms["aspo"] / ms["dpo"]
        print(f"{level:<6} {ms['dpo']:>10.2f} {ms['aspo']:>10.2f} {ratio:>7.3f}")
        if args.check and ratio > args.max_ratio:
            print(f"FAIL: ASPO's {level} costs {ratio:.3f}x DPO's (limit {args.max_ratio})", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
