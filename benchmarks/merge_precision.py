"""How much of a paper-sized LoRA update survives merging it into LLaVA-1.5-7B's weights in bf16, fp16, fp32.

The language model's decoder layers are built from LLaVA-1.5-7B's own config
(``configs/models/llava-1.5-7b.json``; the linear layers' names and shapes asked of transformers'
``LlamaDecoderLayer``), with random base weights at the real widths and the real scale: normal with
the config's ``initializer_range`` (0.02, about the magnitude of Vicuna's weights), stored in fp16 as
llava-hf stores them. Every linear layer the model registry's LoRA recipe targets gets an adapter of
the paper's size (r 1024, alpha 2048) initialised as PEFT does (A Kaiming-uniform, B zero).

The training is simulated, not run: Adam with a consistent gradient moves each parameter by about
its learning rate per step, in the sign of its gradient. The loss is linear in each weight matrix,
with a fixed gradient G of rank 4 (a consistent preference signal), so after T steps of the paper's
schedule (lr 2e-6, cosine, no warmup, no weight decay) with S = the sum of the step learning rates:

    B_T = -S   * sign(G A_0^T)          (B's gradient is scale * G A^T; A barely moves, 3% of its size)
    A_T = A_0 - S' * sign(B_T^T G)      (A's gradient is zero until B has moved: S' leaves out step 1)

This is the largest update Adam makes in T steps; noisy minibatch gradients move parameters less
(``--step-fraction`` scales every step), which leaves even less of the update above the rounding.

Each merge is PEFT's own (``lora.Linear.merge``) with the adapter in fp32, as a saved adapter is,
onto the base loaded in the merge dtype, then cast to the saved dtype:

- ``bf16``: the base loaded in bf16, merged, saved in bf16 (what ``save_merged`` did when the
  training precision was bf16, as in ``configs/training/paper.yaml``);
- ``fp32 -> fp16``: loaded in fp32, merged, saved in fp16, the base checkpoint's own dtype (now);
- ``fp32``: loaded, merged and saved in fp32.

Against the exact update dW = scale * B_T A_T (fp64) and the exact fp16 base W0, for the merged
weights M and the base as stored in the saved dtype W0_d:

- ``update kept`` = 1 - ||(M - W0_d) - dW|| / ||dW||: how much of the update the stored change carries;
- ``error / update`` = ||M - (W0 + dW)|| / ||dW||: how far the evaluated model is from the exact
  trained one, in units of the update (for bf16 this includes rounding the fp16 base itself);
- ``changed``: the share of weights whose stored value the merge changed (M != W0_d).

Prints the table and writes ``results/bench/merge-precision.json`` (atomically).

    python benchmarks/merge_precision.py [--layers 1] [--steps 300] [--step-fraction 1.0]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

MODEL = "llava-1.5-7b"
GRADIENT_RANK = 4
OUT = Path(__file__).resolve().parents[1] / "results" / "bench" / "merge-precision.json"


@dataclass(frozen=True)
class Merge:
    name: str
    merge_dtype: torch.dtype  # the base is loaded in this dtype and the adapter merged into it
    saved_dtype: torch.dtype


MERGES = (
    Merge("bf16", torch.bfloat16, torch.bfloat16),
    Merge("fp32 -> fp16", torch.float32, torch.float16),
    Merge("fp32", torch.float32, torch.float32),
)


@dataclass
class Totals:
    """Sums over every merged weight of one merge."""

    error_vs_exact: float = 0.0  # ||M - (W0 + dW)||^2
    error_of_change: float = 0.0  # ||(M - W0_d) - dW||^2
    changed: int = 0


@dataclass
class Measurement:
    weights: int = 0
    update: float = 0.0  # ||dW||^2
    update_abs_mean: float = 0.0
    base_abs_mean: float = 0.0
    totals: dict[str, Totals] = field(default_factory=lambda: {m.name: Totals() for m in MERGES})


def text_config():
    from transformers import LlamaConfig

    from aspo_repro.rehearsal.checkpoints import paper_config

    return LlamaConfig(**paper_config(MODEL)["text_config"])


def target_linears(config) -> list[tuple[str, int, int]]:
    """(name, out_features, in_features) of each linear layer of one decoder layer the LoRA recipe targets."""
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer

    from aspo_repro.models import get_model_spec

    targets = get_model_spec(MODEL).lora.target_modules
    with torch.device("meta"):
        layer = LlamaDecoderLayer(config, 0)
    return [
        (name, module.out_features, module.in_features)
        for name, module in layer.named_modules()
        if isinstance(module, torch.nn.Linear) and name.split(".")[-1] in targets
    ]


def schedule_sums(steps: int, lr: float) -> tuple[float, float]:
    """(sum of the step learning rates, the same without step 1) under the paper's cosine schedule."""
    from transformers import get_cosine_schedule_with_warmup

    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    scheduler = get_cosine_schedule_with_warmup(optimizer, num_warmup_steps=0, num_training_steps=steps)
    rates = []
    for _ in range(steps):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    return sum(rates), sum(rates[1:])


def trained_adapter(out: int, inp: int, r: int, sums: tuple[float, float], gen: torch.Generator):
    """(A_T, B_T) in fp32 after the simulated Adam steps (see the module docstring)."""
    a0 = torch.empty(r, inp)
    torch.nn.init.kaiming_uniform_(a0, a=math.sqrt(5), generator=gen)  # PEFT's default init of A
    u = torch.randn(out, GRADIENT_RANK, generator=gen)
    v = torch.randn(inp, GRADIENT_RANK, generator=gen)
    b = -sums[0] * torch.sign(u @ (v.T @ a0.T))  # sign(G A_0^T), G = u v^T
    a = a0 - sums[1] * torch.sign((b.T @ u) @ v.T)  # sign(B^T G)
    return a, b


def peft_merged(base: torch.Tensor, a: torch.Tensor, b: torch.Tensor, r: int, alpha: int, merge: Merge):
    """PEFT's merge of the fp32 adapter (a, b) into ``base`` loaded in ``merge.merge_dtype``, saved in its dtype."""
    from peft import LoraConfig
    from peft.tuners.lora import Linear

    layer = torch.nn.Linear(base.shape[1], base.shape[0], bias=False, device="meta")
    layer.weight = torch.nn.Parameter(base.to(merge.merge_dtype), requires_grad=False)
    lora = Linear(layer, "default", LoraConfig(r=r, lora_alpha=alpha), r=r, lora_alpha=alpha)
    lora.lora_A["default"].weight = torch.nn.Parameter(a, requires_grad=False)
    lora.lora_B["default"].weight = torch.nn.Parameter(b, requires_grad=False)
    lora.merge()
    return layer.weight.data.to(merge.saved_dtype)


def measure_linear(measurement: Measurement, shape: tuple[int, int], args, sums, gen: torch.Generator) -> None:
    out, inp = shape
    r, alpha = args.r, args.alpha
    base = (torch.randn(out, inp, generator=gen) * args.std).half()  # the fp16 checkpoint
    a, b = trained_adapter(out, inp, r, sums, gen)
    exact_base = base.double()
    update = (b.double() @ a.double()) * (alpha / r)
    measurement.weights += update.numel()
    measurement.update += update.square().sum().item()
    measurement.update_abs_mean += update.abs().sum().item()
    measurement.base_abs_mean += exact_base.abs().sum().item()
    for merge in MERGES:
        merged = peft_merged(base, a, b, r, alpha, merge)
        stored_base = base.to(merge.saved_dtype)
        totals = measurement.totals[merge.name]
        totals.changed += (merged != stored_base).sum().item()
        merged = merged.double()
        totals.error_vs_exact += (merged - exact_base - update).square().sum().item()
        totals.error_of_change += (merged - stored_base.double() - update).square().sum().item()
        del merged
    del a, b, update


def table(measurement: Measurement) -> list[dict[str, float | str]]:
    norm = math.sqrt(measurement.update)
    return [
        {
            "merge": name,
            "update_kept": 1 - math.sqrt(t.error_of_change) / norm,
            "error_over_update": math.sqrt(t.error_vs_exact) / norm,
            "changed_share": t.changed / measurement.weights,
        }
        for name, t in measurement.totals.items()
    ]


def main(argv: list[str] | None = None) -> int:
    from aspo_repro.models import get_model_spec
    from aspo_repro.storage import atomic_write_json

    spec = get_model_spec(MODEL)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=1, help="decoder layers (each is 202M weights, about 4 CPU minutes)")
    parser.add_argument("--steps", type=int, default=300, help="Adam steps of the simulated training")
    parser.add_argument("--lr", type=float, default=spec.training.learning_rate)
    parser.add_argument("--step-fraction", type=float, default=1.0,
                        help="each step moves a parameter by this fraction of its learning rate (1: consistent gradient)")
    parser.add_argument("--r", type=int, default=spec.lora.r)
    parser.add_argument("--alpha", type=int, default=spec.lora.alpha)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    config = text_config()
    args.std = config.initializer_range
    linears = target_linears(config)
    total, after_first = schedule_sums(args.steps, args.lr)
    sums = (args.step_fraction * total, args.step_fraction * after_first)
    gen = torch.Generator().manual_seed(args.seed)
    measurement = Measurement()
    started = time.perf_counter()
    for layer in range(args.layers):
        for name, out, inp in linears:
            measure_linear(measurement, (out, inp), args, sums, gen)
            print(f"layer {layer} {name} ({out}x{inp}) done, {time.perf_counter() - started:.0f} s", file=sys.stderr)
    rows = table(measurement)
    update_rms = math.sqrt(measurement.update / measurement.weights)
    base_mean = measurement.base_abs_mean / measurement.weights
    print(f"{MODEL} language model, {args.layers} layer(s), {measurement.weights / 1e6:.0f}M weights; LoRA r {args.r} "
          f"alpha {args.alpha} on {', '.join(n.split('.')[-1] for n, _, _ in linears)}; {args.steps} steps at lr "
          f"{args.lr:g} (cosine), each moving a parameter by {args.step_fraction:g} x lr")
    print(f"mean |W0| {base_mean:.3g}; update RMS {update_rms:.3g} ({update_rms / base_mean:.2%} of mean |W0|); "
          f"bf16 step at |W0| ~{base_mean:.3g}: {2.0 ** (math.floor(math.log2(base_mean)) - 7):.3g}, "
          f"fp16 step: {2.0 ** (math.floor(math.log2(base_mean)) - 10):.3g}")
    print(f"{'merge':<14} {'update kept':>12} {'error/update':>13} {'changed':>9}")
    for row in rows:
        print(f"{row['merge']:<14} {row['update_kept']:>12.4f} {row['error_over_update']:>13.4f} "
              f"{row['changed_share']:>9.2%}")
    atomic_write_json(args.out, {
        "model": MODEL, "layers": args.layers, "weights": measurement.weights, "lora": {"r": args.r, "alpha": args.alpha},
        "steps": args.steps, "learning_rate": args.lr, "step_fraction": args.step_fraction, "seed": args.seed,
        "base_std": args.std, "base_abs_mean": base_mean, "update_rms": update_rms, "merges": rows,
        "seconds": round(time.perf_counter() - started, 1),
    })
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
