"""Training throughput: the project's trainer against stock TRL's ``DPOTrainer``, in one process, on the
same model (built from a config with random weights, same seed), data and device.

    python benchmarks/train_throughput.py --size tiny              # CPU, seconds (CI runs this)
    python benchmarks/train_throughput.py --size small             # CPU, LLaVA-like proportions, minutes
    python benchmarks/train_throughput.py --size 7b --json out.json   # one GPU: LLaVA-1.5-7B architecture
    python benchmarks/train_throughput.py --size 7b --layers 2 --threads 2   # CPU rehearsal, ~10 min

The rehearsal keeps every width, length and the LoRA rank of ``7b`` (bf16, 336-pixel images, 576
image tokens, r 1024) with two layers per tower, so that the GPU run's code path is exercised on a
CPU before device time is spent on it; its times say nothing about a GPU's.

Sizes. ``7b`` is LLaVA-1.5-7B's architecture written out here (nothing is downloaded): CLIP
ViT-L/14-336 (24 layers, width 1024, 577 positions; features of the second-to-last layer), a 2-layer
GELU projector, and a 7B Llama (32 layers, width 4096, MLP 11008, 32 heads, vocab 32064), bf16: 7.06B
parameters, 576 image tokens. The data is synthetic, with the issue's lengths: a 40-token prompt
(chat template included) + 576 image tokens, and 150-token responses (10 sentences) + EOS.
``small`` keeps the text lengths on a CPU (144 image tokens; a 6-layer, width-384 Llama, vocab 4096,
so that the LM head stays a small part of the work, as at 7B); ``tiny`` is the test suite's size.

Rows (``--variants``): ``stock`` (TRL's DPOTrainer, DPO only); ``baseline``, the project's trainer
with this issue's switches off (a reference forward each step, two rows per pair);
``shared-prompt`` and ``ref-cache``, one switch on; ``default`` (both on: what a run uses);
``default-no-gc`` (default without gradient checkpointing); ``default-logits`` (default with the
full-vocabulary logits instead of TRL's fused LM head). Each row is measured for each ``--method``.

Columns. ``step s``: median wall time of a training step after ``--warmup`` steps (data collation,
forward, backward, optimiser, logging; CUDA synchronised). ``cpu s``: the process's median CPU
time per step. ``pairs/s``: pairs per step / step time, wall time on a GPU; on a CPU the process's
CPU time with one torch thread (``--threads``), the work done, where wall time on a shared machine
is mostly the other jobs' noise. ``tok/s``: the pairs' tokens (prompt with image tokens, chosen,
and again prompt, rejected) per second: the same work for every row. ``ref s``: the one-off pass
computing the reference log-probs of all the run's pairs (rows with the cache; a later run on the
same model and data reads them instead). ``epoch pairs/s``: pairs / (training time + ref s) over
the benchmark's one epoch. ``peak``: CUDA max allocated on a GPU; on a CPU the process's peak RSS
(VmHWM, reset before each row). ``MFU``: 6 * N * T / step time / peak dense bf16 FLOP/s, with N
every parameter of the trained model (base + LoRA) and T the tokens the policy forward processes
per step (two rows per pair, or one packed row); the reference forward and recomputation are not
counted, as usual. ``HFU``: the FLOPs torch's counter finds in one step (matrix products and
attention, recomputation and any reference forward included) / step time / peak. ``TFLOP/pair``:
that count per pair, hardware-independent, so that its ratio between rows says how much less work
a row does (on a rehearsal, scaled to the full depth by the deepest counted layer); ``epoch
TFLOP/pair`` adds the reference pass's share. ``Δloss``: largest difference of the logged loss
from the ``baseline`` row of the same method over all steps (the switches must not change the
numbers). ``x stock``: pairs/s over stock TRL's. A row that runs out of GPU memory is reported as
such and skipped.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("TQDM_DISABLE", "1")  # before torch, which imports tqdm
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

VARIANTS: dict[str, dict[str, Any]] = {
    "stock": {},
    "baseline": {"shared_prompt": False, "cache_reference_logps": False},
    "shared-prompt": {"shared_prompt": True, "cache_reference_logps": False},
    "ref-cache": {"shared_prompt": False, "cache_reference_logps": True},
    "default": {},
    "default-no-gc": {"gradient_checkpointing": False},
    "default-logits": {"fused_log_probs": False},
}
SPECIALS = ["<pad>", "<unk>", "<s>", "</s>", "<image>"]
TINY_WORDS = (
    "a the is there one two red green blue circle square star left right top of in on and "
    "image describe what colour shape how many objects it this small large"
).split()
LLAVA_TEMPLATE = (
    "{% for message in messages %}{{ message['role'].upper() + ': ' }}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}{{ '<image>\n' }}{% endif %}{% endfor %}"
    "{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] + ' ' }}{% endif %}{% endfor %}"
    "{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)
# Dense bf16 peak FLOP/s by device name (first match); --peak-tflops overrides.
PEAK_BF16 = (
    ("H100 PCIe", 756e12),
    ("H100", 989.4e12),
    ("H200", 989.4e12),
    ("A100", 312e12),
    ("L40S", 362e12),
)


@dataclass(frozen=True)
class Size:
    """A model and data shape: the language model, the vision tower, and the text lengths."""

    text: dict[str, int]
    vision: dict[str, int]
    vocab_size: int  # 0: the tiny word list
    prompt_words: int
    sentence_words: int
    sentences: int
    lora_r: int
    precision: str
    learning_rate: float
    vision_feature_layer: int = -1

    @property
    def image_size(self) -> int:
        return self.vision["image_size"]


SIZES = {
    "tiny": Size(
        text=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
        ),
        vision=dict(
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=16,
            patch_size=8,
        ),
        vocab_size=0,
        prompt_words=4,
        sentence_words=5,
        sentences=3,
        lora_r=8,
        precision="fp32",
        learning_rate=1e-3,
    ),
    "small": Size(
        text=dict(
            hidden_size=384,
            intermediate_size=1032,
            num_hidden_layers=6,
            num_attention_heads=6,
            num_key_value_heads=6,
        ),
        vision=dict(
            hidden_size=192,
            intermediate_size=768,
            num_hidden_layers=4,
            num_attention_heads=4,
            image_size=96,
            patch_size=8,
        ),
        vocab_size=4096,
        prompt_words=36,
        sentence_words=14,
        sentences=10,
        lora_r=64,
        precision="fp32",
        learning_rate=1e-4,
        vision_feature_layer=-2,
    ),
    "7b": Size(
        text=dict(
            hidden_size=4096,
            intermediate_size=11008,
            num_hidden_layers=32,
            num_attention_heads=32,
            num_key_value_heads=32,
        ),
        vision=dict(
            hidden_size=1024,
            intermediate_size=4096,
            num_hidden_layers=24,
            num_attention_heads=16,
            image_size=336,
            patch_size=14,
        ),
        vocab_size=32064,
        prompt_words=36,
        sentence_words=14,
        sentences=10,
        lora_r=1024,
        precision="bf16",
        learning_rate=1e-5,
        vision_feature_layer=-2,
    ),
}


@dataclass
class Row:
    variant: str
    method: str
    pairs_per_step: int
    step_seconds: float
    cpu_step_seconds: float
    losses: list[float]
    peak_bytes: int
    params: int
    policy_tokens_per_step: float
    pair_tokens_per_step: float
    ref_seconds: float | None
    train_pairs: int
    step_flops: int  # counted in one training step, as built
    flops_per_pair: float  # one step's per pair, at the size's full depth
    reference_flops_per_pair: float  # the reference pass's, where the row computed one
    extras: dict[str, Any] = field(default_factory=dict)

    timing: str = "wall"  # which step time the rates use: "wall", or "cpu" on a CPU

    @property
    def seconds(self) -> float:
        return self.cpu_step_seconds if self.timing == "cpu" else self.step_seconds

    @property
    def pairs_per_s(self) -> float:
        return self.pairs_per_step / self.seconds

    @property
    def epoch_pairs_per_s(self) -> float:
        train_time = self.train_pairs / self.pairs_per_s
        return self.train_pairs / (train_time + (self.ref_seconds or 0.0))

    @property
    def epoch_flops_per_pair(self) -> float:
        return self.flops_per_pair + self.reference_flops_per_pair


# ---------------------------------------------------------------- the world: tokenizer, model, data


def vocabulary(size: Size) -> list[str]:
    if size.vocab_size == 0:
        return SPECIALS + TINY_WORDS + [".", ":", "user", "assistant"]
    template_words = [".", ":", "user", "assistant"]
    words = [f"w{i}" for i in range(size.vocab_size - len(SPECIALS) - len(template_words))]
    return SPECIALS + words + template_words


def llava_config(size: Size, tokenizer):
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    ids = tokenizer.convert_tokens_to_ids
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=4096,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        pad_token_id=ids("<pad>"),
        bos_token_id=ids("<s>"),
        eos_token_id=ids("</s>"),
        **size.text,
    )
    vision = CLIPVisionConfig(projection_dim=768, **size.vision)
    patches = (size.image_size // size.vision["patch_size"]) ** 2
    return LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=ids("<image>"),
        image_seq_length=patches,
        vision_feature_layer=size.vision_feature_layer,
        vision_feature_select_strategy="default",
        projector_hidden_act="gelu",
    )


def save_model_files(size: Size, directory: Path) -> Path:
    """config.json and the processor (no weights: the model is built in memory, :func:`build_model`)."""
    from transformers import CLIPImageProcessor, LlavaProcessor

    from aspo_repro.models.builders import word_level_tokenizer

    tokenizer = word_level_tokenizer(vocabulary(size))
    side = size.image_size
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": side}, crop_size={"height": side, "width": side}
        ),
        tokenizer=tokenizer,
        patch_size=size.vision["patch_size"],
        vision_feature_select_strategy="default",
        chat_template=LLAVA_TEMPLATE,
        num_additional_image_tokens=1,
    )
    llava_config(size, tokenizer).save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def build_model(size: Size, directory: Path, device: torch.device, seed: int = 0):
    from transformers import AutoConfig, LlavaForConditionalGeneration

    config = AutoConfig.from_pretrained(directory)
    config._name_or_path = str(directory)
    dtype = torch.bfloat16 if size.precision == "bf16" else torch.float32
    torch.manual_seed(seed)
    with torch.device(device):
        model = LlavaForConditionalGeneration._from_config(config, dtype=dtype)
    return model.eval()


def save_preferences(size: Size, directory: Path, pairs: int, seed: int = 0) -> Path:
    """Synthetic pairs of the size's lengths: one token per word, ``sentences`` sentences per response."""
    from datasets import Dataset, Features, Image, List
    from PIL import Image as PILImage

    from aspo_repro.segmentation import sentence_spans

    rng = random.Random(seed)
    words = [
        w
        for w in vocabulary(size)
        if w not in SPECIALS and w not in (".", ":", "user", "assistant")
    ]

    def sentence() -> str:
        return " ".join(rng.choice(words) for _ in range(size.sentence_words)) + " ."

    def response() -> str:
        return " ".join(sentence() for _ in range(size.sentences))

    def image() -> dict:
        import io

        pixels = bytes(rng.randrange(256) for _ in range(3 * 8 * 8))
        picture = PILImage.frombytes("RGB", (8, 8), pixels).resize((size.image_size,) * 2)
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        return {"bytes": buffer.getvalue(), "path": None}

    rows = {
        "id": [],
        "images": [],
        "prompt": [],
        "chosen": [],
        "rejected": [],
        "chosen_sentence_spans": [],
        "chosen_sentence_similarity": [],
    }
    for index in range(pairs):
        chosen = response()
        spans = [list(span) for span in sentence_spans(chosen)]
        rows["id"].append(f"pair-{index}")
        rows["images"].append([image()])
        rows["prompt"].append(" ".join(rng.choice(words) for _ in range(size.prompt_words)))
        rows["chosen"].append(chosen)
        rows["rejected"].append(response())
        rows["chosen_sentence_spans"].append(spans)
        rows["chosen_sentence_similarity"].append([rng.uniform(0.15, 0.35) for _ in spans])
    others = Dataset.from_dict({k: v for k, v in rows.items() if k != "images"}).features
    features = Features({**others, "images": List(Image())})
    Dataset.from_dict(rows, features=features).save_to_disk(str(directory))
    (directory / "manifest.json").write_text(
        json.dumps({"source": "benchmarks/train_throughput.py", "rows": pairs})
    )
    return directory


# ---------------------------------------------------------------- one row


def flop_counter():
    """torch's FLOP counter (matrix products and attention), taught the CPU's attention kernel."""
    from torch.utils import flop_counter

    aten = torch.ops.aten

    def forward(query, key, value, *args, out_shape=None, **kwargs):
        return flop_counter.sdpa_flop_count(query, key, value)

    def backward(grad_out, query, key, value, *args, out_shape=None, **kwargs):
        return flop_counter.sdpa_backward_flop_count(grad_out, query, key, value)

    return flop_counter.FlopCounterMode(
        display=False,
        custom_mapping={
            aten._scaled_dot_product_flash_attention_for_cpu: forward,
            aten._scaled_dot_product_flash_attention_for_cpu_backward: backward,
        },
    )


@dataclass
class Work:
    """Counted FLOPs: their total and each module's (names as torch's counter gives them)."""

    total: int = 0
    by_module: dict[str, int] = field(default_factory=dict)

    @classmethod
    def counted(cls, counter) -> Work:
        return cls(
            counter.get_total_flops(),
            {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()},
        )

    def with_more_layers(self, text_layers: int, vision_layers: int) -> float:
        """The total had the model that many more language-model and vision layers, each counted
        as the deepest built layer that did work (a rehearsal's figure for the full depth; the
        first layer is no model for the others: it passes no gradient back to the embeddings)."""
        total = float(self.total)
        for tower, extra in (("language_model", text_layers), ("vision_tower", vision_layers)):
            layers = {
                int(match.group(1)): flops
                for name, flops in self.by_module.items()
                if flops and (match := re.search(rf"{tower}\..*layers\.(\d+)$", name))
            }
            if layers:
                total += extra * layers[max(layers)]
        return total


class StepClock:
    """Wall-clock and process CPU time at the end of each optimiser step (CUDA synchronised), and
    the FLOPs of step ``counted_step`` (1-based; the last warm-up step, so that the counter's
    overhead stays out of the timed steps)."""

    def __init__(self, counted_step: int) -> None:
        from transformers import TrainerCallback

        ends = self.ends = []
        clock = self
        self.work = None
        self._counter = None

        class Callback(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):
                if state.global_step + 1 == counted_step:
                    clock._counter = flop_counter().__enter__()

            def on_step_end(self, args, state, control, **kwargs):
                if clock._counter is not None:
                    clock._counter.__exit__(None, None, None)
                    clock.work, clock._counter = Work.counted(clock._counter), None
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                ends.append((time.perf_counter(), time.process_time()))

        self.callback = Callback()

    def step_times(self, warmup: int, clock: int = 0) -> list[float]:
        """Durations of the steps after ``warmup`` (clock 0: wall, 1: process CPU)."""
        marks = [end[clock] for end in self.ends[warmup - 1 :]]
        return [b - a for a, b in zip(marks, marks[1:])]


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def train_config(args, size: Size, variant: str, cache_dir: Path):
    from aspo_repro.training import TrainConfig

    switches = {"gradient_checkpointing": args.gradient_checkpointing == "on", **VARIANTS[variant]}
    return TrainConfig(
        global_batch_size=args.pairs_per_step,  # one process: a micro-batch of them, up to the model's per-device batch
        per_device_batch_size=args.pairs_per_step,
        learning_rate=size.learning_rate,
        max_steps=args.warmup + args.steps,
        lora_r=args.lora_r,
        lora_alpha=2 * args.lora_r,
        precision=size.precision,
        max_length=4096,
        save_steps=10**9,
        logging_steps=1,
        optimizer=args.optimizer,
        dataloader_num_workers=args.workers,
        reference_cache_dir=str(cache_dir),
        **switches,
    )


def build_trainer(
    args, size: Size, world: dict[str, Path], variant: str, method: str, device: torch.device
):
    """The trainer of one row, on a freshly built model (same seed for every row)."""
    from transformers import AutoProcessor
    from trl import DPOTrainer

    from aspo_repro.training import build_dpo_config, prepare_run
    from aspo_repro.training.collator import TRL_COLUMNS
    from aspo_repro.training.lora import lora_config
    from aspo_repro.training.run import build_trainer as build_project_trainer
    from aspo_repro.training.run import formatted_dataset

    work = Path(tempfile.mkdtemp(dir=world["root"], prefix=f"{variant}-{method}-"))
    config = train_config(args, size, variant, work / "reference-logps")
    prepared = prepare_run(method, str(world["model"]), world["prefs"], work / "out", config)
    processor = AutoProcessor.from_pretrained(world["model"])
    model = build_model(size, world["model"], device)
    dataset = formatted_dataset(prepared, processor)
    reset_peak_memory(device)
    if variant != "stock":
        return build_project_trainer(prepared, model, processor, dataset, None, log=lambda _: None)[
            0
        ], dataset
    trainer = DPOTrainer(
        model=model,
        args=build_dpo_config(prepared.settings, prepared.method, work / "out"),
        train_dataset=dataset.select_columns(list(TRL_COLUMNS)),
        processing_class=processor,
        peft_config=lora_config(prepared.settings, model),
    )
    trainer.reference_pass = None
    return trainer, dataset


def token_counts(trainer, dataset) -> tuple[float, float]:
    """Per pair, averaged: the pair's tokens (both rows: the unpacked policy tokens) and the packed ones."""
    from aspo_repro.training.collator import TRL_COLUMNS, UnitCollator

    collator = UnitCollator(processor=trainer.processing_class, max_length=trainer.args.max_length)
    two_rows = packed = 0
    for index in range(len(dataset)):
        batch = collator([{k: dataset[index][k] for k in TRL_COLUMNS}])
        completion = batch["completion_mask"].sum(-1)
        lengths = batch["attention_mask"].sum(-1)
        two_rows += int(lengths.sum())
        packed += int(lengths[0] + completion[1] + 1)
    count = len(dataset)
    return two_rows / count, packed / count


def reference_seconds(reference, device: torch.device) -> float | None:
    """The reference pass's time (CPU time on a CPU, as the steps), when this row computed it."""
    if reference is None or reference.source != "computed":
        return None
    return reference.seconds if device.type == "cuda" else reference.cpu_seconds


def full_depth(work: Work, built: Size, name: str) -> float:
    """Counted FLOPs scaled from a rehearsal's layers to those of the size it rehearses."""
    full = SIZES[name]
    return work.with_more_layers(
        *(
            getattr(full, tower)["num_hidden_layers"] - getattr(built, tower)["num_hidden_layers"]
            for tower in ("text", "vision")
        )
    )


def reference_flops_per_pair(trainer, dataset, built: Size, name: str) -> float:
    """The reference pass's FLOPs per pair, at full depth, where the row computed one (0 else):
    its code counted on one batch, after the timed steps so that the counter slows none of them."""
    from aspo_repro.training.reference_cache import compute_reference_logps

    reference = trainer.reference_pass
    if reference is None or reference.source != "computed":
        return 0.0
    batch = dataset.select(range(min(len(dataset), trainer.args.per_device_train_batch_size)))
    with flop_counter() as counter:
        compute_reference_logps(trainer, batch)
    return full_depth(Work.counted(counter), built, name) / len(batch)


def measure(
    args, size: Size, world: dict[str, Path], variant: str, method: str, device: torch.device
) -> Row:
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer, dataset = build_trainer(args, size, world, variant, method, device)
    for callback in (ProgressCallback, PrinterCallback):
        trainer.remove_callback(callback)
    clock = StepClock(counted_step=args.warmup)
    trainer.add_callback(clock.callback)
    trainer.train()
    pair_tokens, packed = token_counts(trainer, dataset)
    is_packed = bool(getattr(trainer.data_collator, "pack_pairs", False))
    reference = trainer.reference_pass
    row = Row(
        variant=variant,
        method=method,
        pairs_per_step=args.pairs_per_step,
        step_seconds=statistics.median(clock.step_times(args.warmup)),
        cpu_step_seconds=statistics.median(clock.step_times(args.warmup, clock=1)),
        losses=[
            entry["loss"]
            for entry in trainer.state.log_history
            if "loss" in entry and "step" in entry
        ],
        peak_bytes=peak_memory(device),
        params=sum(p.numel() for p in trainer.model.parameters()),
        policy_tokens_per_step=(packed if is_packed else pair_tokens) * args.pairs_per_step,
        pair_tokens_per_step=pair_tokens * args.pairs_per_step,
        ref_seconds=reference_seconds(reference, device),
        train_pairs=len(dataset),
        step_flops=clock.work.total,
        flops_per_pair=full_depth(clock.work, size, args.size) / args.pairs_per_step,
        reference_flops_per_pair=reference_flops_per_pair(trainer, dataset, size, args.size),
        timing="wall" if device.type == "cuda" else "cpu",
        extras={
            "packed": is_packed,
            "reference": None if reference is None else reference.as_dict(),
        },
    )
    del trainer
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return row


# ---------------------------------------------------------------- the table


def peak_flops(device: torch.device, override: float | None) -> float | None:
    if override:
        return override * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((flops for key, flops in PEAK_BF16 if key in name), None)


def render(rows: list[Row], flops: float | None) -> str:
    stock = {r.method: r for r in rows if r.variant == "stock"}
    stock_row = stock.get("dpo")
    baseline = {r.method: r for r in rows if r.variant == "baseline"}
    header = (
        "| method | implementation | step s | cpu s | pairs/s | tok/s | ref s | epoch pairs/s | peak GiB | MFU "
        "| HFU | TFLOP/pair | epoch TFLOP/pair | Δloss | x stock |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for r in rows:
        mfu = (
            f"{6 * r.params * r.policy_tokens_per_step / r.seconds / flops:.1%}" if flops else "n/a"
        )
        hfu = f"{r.step_flops / r.seconds / flops:.1%}" if flops else "n/a"
        base = baseline.get(r.method)
        delta = (
            max((abs(a - b) for a, b in zip(r.losses, base.losses)), default=float("nan"))
            if base
            else float("nan")
        )
        ratio = f"{r.pairs_per_s / stock_row.pairs_per_s:.2f}" if stock_row else "n/a"
        name = "stock TRL DPOTrainer" if r.variant == "stock" else f"project: {r.variant}"
        ref = f"{r.ref_seconds:.2f}" if r.ref_seconds is not None else "-"
        lines.append(
            f"| {r.method} | {name} | {r.step_seconds:.3f} | {r.cpu_step_seconds:.3f} | {r.pairs_per_s:.2f} | "
            f"{r.pair_tokens_per_step / r.seconds:.0f} | {ref} | {r.epoch_pairs_per_s:.2f} | "
            f"{r.peak_bytes / 2**30:.2f} | {mfu} | {hfu} | {r.flops_per_pair / 1e12:.4g} | "
            f"{r.epoch_flops_per_pair / 1e12:.4g} | "
            f"{delta:.1e} | {ratio} |"
        )
    return "\n".join(lines)


def summary(rows: list[Row]) -> dict[str, float]:
    """The issue's two figures: default vs stock pairs/s, and aspo vs dpo step time."""
    by = {(r.variant, r.method): r for r in rows}
    out = {}
    stock = by.get(("stock", "dpo"))
    for method in ("dpo", "aspo"):
        for variant in ("default", "default-no-gc"):
            row = by.get((variant, method))
            if stock and row:
                out[f"{method} {variant} / stock pairs/s"] = row.pairs_per_s / stock.pairs_per_s
                out[f"{method} {variant} / stock epoch pairs/s"] = (
                    row.epoch_pairs_per_s / stock.pairs_per_s
                )
                out[f"stock / {method} {variant} FLOPs per pair"] = (
                    stock.flops_per_pair / row.flops_per_pair
                )
                out[f"stock / {method} {variant} epoch FLOPs per pair"] = (
                    stock.epoch_flops_per_pair / row.epoch_flops_per_pair
                )
    for variant in VARIANTS:
        dpo, aspo = by.get((variant, "dpo")), by.get((variant, "aspo"))
        if dpo and aspo:
            out[f"aspo / dpo step time ({variant})"] = aspo.seconds / dpo.seconds
    return out


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--method", choices=("dpo", "aspo", "both"), default="both")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"comma-separated, of: {', '.join(VARIANTS)}"
    )
    parser.add_argument(
        "--steps", type=int, default=None, help="measured steps (default: tiny 6, small 3, 7b 10)"
    )
    parser.add_argument("--warmup", type=int, default=2, help="steps run before the clock starts")
    parser.add_argument(
        "--layers",
        type=int,
        default=None,
        help="rehearsal: the size's widths, lengths and LoRA rank with only this many layers in "
        "the language model and the vision tower (lets --size 7b run on a CPU)",
    )
    parser.add_argument("--pairs-per-step", type=int, default=2)
    parser.add_argument(
        "--lora-r",
        type=int,
        default=None,
        help="LoRA rank (alpha 2r); default by size: 8, 64, 1024",
    )
    parser.add_argument("--gradient-checkpointing", choices=("on", "off"), default="on")
    parser.add_argument(
        "--optimizer", default=None, help="TrainConfig.optimizer (default adamw_torch_fused on GPU)"
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="dataloader workers (GPU: 4, CPU: 0)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads on a CPU (default 1)"
    )
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="peak dense bf16 TFLOP/s for MFU"
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the rows, figures and provenance here"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 unless default >= --min-ratio x stock and aspo <= --max-aspo x dpo",
    )
    parser.add_argument("--min-ratio", type=float, default=2.0)
    parser.add_argument("--max-aspo", type=float, default=1.03)
    args = parser.parse_args(argv)
    args.steps = args.steps or {"tiny": 6, "small": 3, "7b": 10}[args.size]
    args.lora_r = args.lora_r or SIZES[args.size].lora_r
    cuda = torch.cuda.is_available()
    args.optimizer = args.optimizer or ("adamw_torch_fused" if cuda else "adamw_torch")
    args.workers = (4 if cuda else 0) if args.workers is None else args.workers
    unknown = set(args.variants.split(",")) - set(VARIANTS)
    if unknown:
        parser.error(
            f"unknown variant(s) {', '.join(sorted(unknown))}; known: {', '.join(VARIANTS)}"
        )
    if args.size == "7b" and not cuda and args.layers is None:
        parser.error("--size 7b needs a CUDA GPU (or --layers N, a shallow rehearsal on the CPU)")
    if args.layers is not None and args.layers < 2:
        parser.error("--layers must be at least 2 (the 7b size reads the vision tower's second-to-last layer)")
    if args.steps < 2 or args.warmup < 1:
        parser.error("--steps must be at least 2 and --warmup at least 1")
    return args


def shallow(size: Size, layers: int | None) -> Size:
    """The size with at most ``layers`` layers in each tower (``None``: as it is)."""
    if layers is None:
        return size
    depth = {
        tower: {**config, "num_hidden_layers": min(layers, config["num_hidden_layers"])}
        for tower, config in (("text", size.text), ("vision", size.vision))
    }
    return dataclasses.replace(size, **depth)


def plan(args) -> list[tuple[str, str]]:
    methods = ("dpo", "aspo") if args.method == "both" else (args.method,)
    chosen = args.variants.split(",")
    rows = [("stock", "dpo")] if "stock" in chosen else []
    for variant in chosen:
        if variant == "stock" or (
            variant == "default-no-gc" and args.gradient_checkpointing == "off"
        ):
            continue
        rows.extend((variant, method) for method in methods)
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    if device.type == "cpu":
        torch.set_num_threads(args.threads or 1)
    size = shallow(SIZES[args.size], args.layers)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="train-throughput-") as root:
        root = Path(root)
        pairs = (args.warmup + args.steps) * args.pairs_per_step
        world = {
            "root": root,
            "model": save_model_files(size, root / "model"),
            "prefs": save_preferences(size, root / "prefs", pairs),
        }
        failures = []
        for variant, method in plan(args):
            started = time.time()
            try:
                row = measure(args, size, world, variant, method, device)
            except torch.OutOfMemoryError:
                row = None
            if row is None:  # outside the except block, so that the trainer can be freed
                failures.append(f"{method} {variant}: out of GPU memory")
                gc.collect()
                torch.cuda.empty_cache()
                continue
            rows.append(row)
            print(
                f"  {variant} {method}: {rows[-1].step_seconds:.3f} s/step ({time.time() - started:.0f} s)",
                file=sys.stderr,
            )
    flops = peak_flops(device, args.peak_tflops)
    device_name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU, {torch.get_num_threads()} threads"
    )
    basis = "wall time" if device.type == "cuda" else "process CPU time"
    print(
        f"\nsize {args.size}"
        + (f" with {args.layers} layers per tower (rehearsal)" if args.layers else "")
        + f", {args.pairs_per_step} pairs/step, LoRA r {args.lora_r}, gradient checkpointing "
        f"{args.gradient_checkpointing}, {args.steps} steps after {args.warmup} warm-up, {device_name}"
        + (f", peak {flops / 1e12:.0f} TFLOP/s" if flops else "")
        + f"; rates from {basis}"
    )
    print(render(rows, flops))
    for failure in failures:
        print(f"not measured: {failure}")
    figures = summary(rows)
    for name, value in figures.items():
        print(f"{name}: {value:.3f}")
    if args.json:
        write_json(args, rows, figures, device_name, flops)
    return check(args, figures) if args.check else 0


def write_json(
    args, rows: list[Row], figures: dict[str, float], device_name: str, flops: float | None
) -> None:
    from dataclasses import asdict

    from aspo_repro.provenance import provenance
    from aspo_repro.storage import atomic_write_json

    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    atomic_write_json(
        args.json,
        {
            "benchmark": "train_throughput",
            "settings": settings,
            "device": device_name,
            "peak_flops": flops,
            "rows": [
                {
                    **asdict(r),
                    "pairs_per_s": r.pairs_per_s,
                    "epoch_pairs_per_s": r.epoch_pairs_per_s,
                    "epoch_flops_per_pair": r.epoch_flops_per_pair,
                }
                for r in rows
            ],
            "figures": figures,
            **provenance(),
        },
    )


def check(args, figures: dict[str, float]) -> int:
    ratios = [v for k, v in figures.items() if k.endswith("default / stock pairs/s")]
    aspo = figures.get("aspo / dpo step time (default)")
    failed = (ratios and min(ratios) < args.min_ratio) or (
        aspo is not None and aspo > args.max_aspo
    )
    if failed:
        print(
            f"check failed: need >= {args.min_ratio}x stock and aspo <= {args.max_aspo}x dpo",
            file=sys.stderr,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
