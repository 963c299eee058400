"""The memory plan's counted parts against the bytes of a real PEFT model and a real AdamW.

For each paper checkpoint's architecture (``configs/models/*.json``): built at full depth on the
meta device (no memory, exact shapes and dtypes), and with a few layers on the CPU (the same
widths, a real backward pass), the registry's LoRA recipe applied with ``peft.get_peft_model`` as
TRL applies it under DDP (LoRA in fp32 over a bf16 base), then counted: the base's parameter bytes,
LoRA's, their gradients' (on the CPU those of a real backward; on meta a gradient is what autograd
would allocate, a tensor of its parameter's shape and dtype), and AdamW's state after ``step()``.
Each is compared with ``aspo_repro.orchestration.memory``'s number. Activations are estimates and
not counted here.

    python benchmarks/memory_plan.py                       # 3 models on meta, LLaVA 7B/13B with 2 layers on the CPU
    python benchmarks/memory_plan.py --models llava-1.5-7b --cpu-layers 1

Prints a table (component, estimated, counted, ratio) and writes results/bench/memory-plan.json.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import torch

from aspo_repro.orchestration import memory

REPO_ROOT = Path(__file__).resolve().parents[1]
OUT = REPO_ROOT / "results" / "bench" / "memory-plan.json"
PAPER_MODELS = ("llava-1.5-7b", "llava-1.5-13b", "instructblip-13b")


def with_layers(config: dict, layers: int) -> dict:
    """``config`` with every tower ``layers`` deep (widths kept)."""
    config = copy.deepcopy(config)
    for part in ("text_config", "vision_config", "qformer_config"):
        if part in config:
            config[part]["num_hidden_layers"] = layers
    return config


def build(config: dict, device: str, dtype=torch.bfloat16):
    from transformers import AutoConfig, AutoModelForImageTextToText

    fields = {key: value for key, value in config.items() if key != "model_type"}
    with torch.device(device):
        return AutoModelForImageTextToText.from_config(AutoConfig.for_model(config["model_type"], **fields), dtype=dtype)


def apply_lora(model, recipe: memory.Lora, alpha: int, scope: str):
    """The registry's recipe through PEFT, as TRL's DPOTrainer applies it without ZeRO-3."""
    from peft import LoraConfig, get_peft_model

    from aspo_repro.training.lora import target_pattern

    return get_peft_model(model, LoraConfig(r=recipe.r, lora_alpha=alpha, lora_dropout=0.0, bias="none",
                                            target_modules=target_pattern(scope, recipe.targets)))


def nbytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def language_model(peft_model):
    base = peft_model.get_base_model()
    return base.model.language_model if hasattr(base, "model") else base.language_model


def backward(peft_model, tokens: int = 16) -> None:
    """A real backward pass through the language model (every LoRA layer is on its path)."""
    lm = language_model(peft_model)
    ids = torch.randint(0, 100, (1, tokens))
    output = lm(input_ids=ids)
    hidden = output.last_hidden_state if hasattr(output, "last_hidden_state") else output.logits
    hidden.float().square().mean().backward()


def count(config: dict, recipe: memory.Lora, alpha: int, scope: str, device: str) -> dict[str, int]:
    """The counted bytes of the base, LoRA, gradients and AdamW's state of ``config`` on ``device``."""
    model = build(config, device)
    frozen = nbytes(model.parameters())
    peft_model = apply_lora(model, recipe, alpha, scope)
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    if device == "meta":
        for parameter in trainable:
            parameter.grad = torch.zeros_like(parameter)
    else:
        backward(peft_model)
    gradients = nbytes(p.grad for p in trainable)
    optimizer = torch.optim.AdamW(trainable, lr=1e-6, foreach=False)
    optimizer.step()
    states = nbytes(value for state in optimizer.state.values() for value in state.values() if torch.is_tensor(value))
    return {"parameters (bf16)": frozen, "LoRA weights (fp32)": nbytes(trainable), "LoRA gradients (fp32)": gradients,
            "AdamW states": states}


def estimated(config: dict, recipe: memory.Lora) -> dict[str, int]:
    text = memory.text_model(config)
    trainable = memory.lora_parameters(text, recipe)
    return {"parameters (bf16)": 2 * sum(memory.parameter_counts(config).values()),
            "LoRA weights (fp32)": 4 * trainable, "LoRA gradients (fp32)": 4 * trainable,
            "AdamW states": memory.adam_state_bytes(trainable, memory.lora_tensors(text, recipe))}


def compare(name: str, config: dict, device: str, where: str) -> list[dict]:
    from aspo_repro.models.registry import get_model_spec

    spec = get_model_spec(name)
    recipe = memory.Lora(spec.lora.r, spec.lora.target_modules)
    started = time.perf_counter()
    counted = count(config, recipe, spec.lora.alpha, spec.lora.module_scope, device)
    seconds = time.perf_counter() - started
    expected = estimated(config, recipe)
    return [{"model": name, "where": where, "component": part, "estimated": expected[part], "counted": counted[part],
             "ratio": expected[part] / counted[part], "seconds": round(seconds, 2)} for part in counted]


def table(rows: list[dict]) -> str:
    lines = ["| model | built | component | estimated (GiB) | counted (GiB) | estimated / counted |",
             "| --- | --- | --- | ---: | ---: | ---: |"]
    lines += [f"| {r['model']} | {r['where']} | {r['component']} | {r['estimated'] / memory.GIB:.4f} | "
              f"{r['counted'] / memory.GIB:.4f} | {r['ratio']:.6f} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from aspo_repro.provenance import provenance
    from aspo_repro.rehearsal.checkpoints import paper_config
    from aspo_repro.storage import atomic_write_json

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(PAPER_MODELS), choices=PAPER_MODELS)
    parser.add_argument("--cpu-models", nargs="*", default=["llava-1.5-7b", "llava-1.5-13b"], choices=PAPER_MODELS,
                        help="also built on the CPU with --cpu-layers layers and a real backward pass")
    parser.add_argument("--cpu-layers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    rows = []
    for name in args.models:
        rows += compare(name, paper_config(name), "meta", "meta, full depth")
    for name in args.cpu_models:
        rows += compare(name, with_layers(paper_config(name), args.cpu_layers), "cpu",
                        f"cpu, {args.cpu_layers} layers")
    print(table(rows))
    atomic_write_json(args.out, {"rows": rows, "exact": all(r["estimated"] == r["counted"] for r in rows),
                                 "provenance": provenance()})
    print(f"written {args.out}")
    return 0 if all(r["estimated"] == r["counted"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
