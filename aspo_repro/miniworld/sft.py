"""Supervised fine-tuning of the toy base models on the world's SFT set.

The vision tower is the ViT of one of the world's CLIPs, frozen; everything after it (projector or
Q-Former, language model) trains from random weights, except that a recipe with a
``qformer_pretraining`` (mini-InstructBLIP's) first pretrains its Q-Former (``qformer_pretraining.py``),
as a real InstructBLIP starts from BLIP-2's pretrained Q-Former. The loss is the language-modelling loss on the answer tokens
only (the prompt and image tokens are masked with -100), as in LLaVA's instruction tuning.
The budget is deliberately short (``SftConfig.steps``): the base models must stay imperfect
so that preference optimisation has hallucinations to remove.

Batches group examples of similar length (fewer pad tokens); order, initial weights and
batches all follow the seed, so two builds give equal models.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from aspo_repro.miniworld import lexicon
from aspo_repro.miniworld.config import BaseModelRecipe, DataConfig, SftConfig
from aspo_repro.models.prompting import chat_prompt, strip_image_placeholder

IGNORE_INDEX = -100
ENCODE_CHUNK = 512


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one thread: results then do not depend on the machine's thread count (so
    builds are reproducible anywhere), and on a shared CPU one thread per process is several
    times faster than two contending threads. Parallelism comes from building stages side by side."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]
    image: int  # row of the pixel bank
    short: bool  # a short-answer or multiple-choice question (the grounding phase's data)
    qformer_input_ids: list[int] | None = None


def is_short_question(prompt: str) -> bool:
    return prompt.endswith((lexicon.SHORT_ANSWER_SUFFIX, lexicon.MULTIPLE_CHOICE_SUFFIX))


def load_images(image_dir: Path, names: Sequence[str]):
    from PIL import Image

    images = []
    for name in names:
        with Image.open(image_dir / name) as image:
            images.append(image.convert("RGB"))
    return images


def encode_examples(items: Sequence[dict], processor, image_index: dict[str, int], images: Sequence,
                    progress: bool = False) -> list[Example]:
    """Tokenise LLaVA-format items through the model's processor (which expands the image
    placeholder); the answer follows the prompt and ends with ``</s>``."""
    tokenizer = processor.tokenizer
    examples: list[Example] = []
    for start in tqdm(range(0, len(items), ENCODE_CHUNK), desc="tokenise", disable=not progress, leave=False):
        chunk = items[start:start + ENCODE_CHUNK]
        questions = [strip_image_placeholder(item["conversations"][0]["value"]) for item in chunk]
        prompts = [chat_prompt(processor, question) for question in questions]
        chunk_images = [images[image_index[item["image"]]] for item in chunk]
        encoded = processor(images=chunk_images, text=prompts)
        answers = tokenizer([" " + item["conversations"][1]["value"] for item in chunk], add_special_tokens=False)
        for row, item in enumerate(chunk):
            prompt_ids = list(encoded["input_ids"][row])
            answer_ids = list(answers["input_ids"][row]) + [tokenizer.eos_token_id]
            qformer = encoded.get("qformer_input_ids")
            examples.append(Example(
                input_ids=prompt_ids + answer_ids,
                labels=[IGNORE_INDEX] * len(prompt_ids) + answer_ids,
                image=image_index[item["image"]],
                short=is_short_question(questions[row]),
                qformer_input_ids=None if qformer is None else list(qformer[row]),
            ))
    return examples


def length_grouped_batches(examples: Sequence[Example], batch_size: int, rng: random.Random,
                           group: int = 16) -> list[list[int]]:
    """One epoch of batches: shuffle, sort within groups of ``group`` batches by length, shuffle batches."""
    order = list(range(len(examples)))
    rng.shuffle(order)
    batches = []
    span = batch_size * group
    for start in range(0, len(order), span):
        block = sorted(order[start:start + span], key=lambda i: len(examples[i].input_ids))
        batches += [block[i:i + batch_size] for i in range(0, len(block), batch_size)]
    rng.shuffle(batches)
    return batches


def _pad(rows: Sequence[Sequence[int]], value: int):
    import torch

    width = max(len(row) for row in rows)
    return torch.tensor([list(row) + [value] * (width - len(row)) for row in rows], dtype=torch.long)


def collate(batch: Sequence[Example], pixel_bank, pad_id: int) -> dict:
    inputs = {
        "input_ids": _pad([e.input_ids for e in batch], pad_id),
        "attention_mask": _pad([[1] * len(e.input_ids) for e in batch], 0),
        "labels": _pad([e.labels for e in batch], IGNORE_INDEX),
        "pixel_values": pixel_bank[[e.image for e in batch]],
    }
    if batch[0].qformer_input_ids is not None:
        inputs["qformer_input_ids"] = _pad([e.qformer_input_ids for e in batch], pad_id)
        inputs["qformer_attention_mask"] = _pad([[1] * len(e.qformer_input_ids) for e in batch], 0)
    return inputs


def train(model, examples: Sequence[Example], pixel_bank, pad_id: int, config: SftConfig, seed: int,
          progress: bool = True, desc: str = "sft", position: int = 0) -> list[float]:
    """Train in place (AdamW, a short warmup then a constant rate: the mix phase must not start on
    a decayed rate); the losses."""
    import torch
    from transformers import get_constant_schedule_with_warmup

    torch.manual_seed(seed)
    rng = random.Random(f"aspo-miniworld-sft:{seed}")
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, betas=(0.9, 0.98),
                                  weight_decay=config.weight_decay)
    schedule = get_constant_schedule_with_warmup(optimizer, config.warmup_steps)
    phases = [([e for e in examples if e.short], config.grounding_steps), (list(examples), config.steps)]
    losses = []
    bar = tqdm(total=config.total_steps, desc=desc, disable=not progress, leave=False, position=position)
    for phase_examples, steps in phases:
        batches: list[list[int]] = []
        for _ in range(steps):
            if not batches:
                batches = length_grouped_batches(phase_examples, config.batch_size, rng)
            inputs = collate([phase_examples[i] for i in batches.pop()], pixel_bank, pad_id)
            loss = model(**inputs).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(round(loss.item(), 5))
            bar.update()
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
    bar.close()
    model.eval()
    return losses


def pretrained_vision(clip_dir: Path) -> dict:
    """The ViT weights of a CLIP stage (an open_clip ``local-dir`` checkpoint)."""
    import open_clip

    model = open_clip.create_model(f"local-dir:{clip_dir}")
    return model.visual.state_dict()


def train_base_model(recipe: BaseModelRecipe, data_dir: Path, vision_dir: Path, out_dir: Path, seed: int,
                     data: DataConfig, progress: bool = True, position: int = 0, replicate: int = 0) -> dict:
    """Build ``recipe``'s model from its config, put the CLIP ViT of ``vision_dir`` in as its
    frozen vision tower, fine-tune the rest on ``data_dir/sft.json`` and save model +
    processor into ``out_dir``. Returns the training record."""
    with single_thread():
        return _train_base_model(recipe, data_dir, vision_dir, out_dir, seed, data, progress, position,
                                 replicate)


def perturb(model, replicate: int, seed: int) -> None:
    """Replicate ``replicate`` > 0 of a world: add noise of one part in a million of each trainable
    weight's spread, seeded by the replicate. Another CPU's float kernels differ from this one's by
    about that much in every operation; training makes a different model of either, which is what the
    regression references must allow for (``aspo_repro.regression``)."""
    import torch

    if replicate <= 0:
        return
    generator = torch.Generator().manual_seed(seed * 1000 + replicate)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.requires_grad and parameter.numel() > 1:
                noise = torch.randn(parameter.shape, generator=generator, dtype=torch.float32)
                parameter.add_((1e-6 * parameter.float().std() * noise).to(parameter.dtype))


def _train_base_model(recipe, data_dir, vision_dir, out_dir, seed, data, progress, position,
                      replicate: int = 0) -> dict:
    from aspo_repro.models.builders import build_model_and_processor, save_checkpoint
    from aspo_repro.models.families import get_family
    from aspo_repro.models.vision_init import load_vision_tower

    model_seed = seed * 1000 + recipe.seed_offset
    model, processor = build_model_and_processor(recipe.family, recipe.size, image=data.image, seed=model_seed)
    load_vision_tower(model, get_family(recipe.family), pretrained_vision(vision_dir), freeze=True)
    perturb(model, replicate, model_seed)
    items = json.loads((data_dir / "sft.json").read_text(encoding="utf-8"))
    names = sorted({item["image"] for item in items})
    images = load_images(data_dir / "images", names)
    pixel_bank = processor.image_processor(images=images, return_tensors="pt")["pixel_values"]
    examples = encode_examples(items, processor, {name: i for i, name in enumerate(names)}, images, progress)
    pretrained = _pretrain_qformer(recipe, model, processor, data, seed, model_seed, progress, position)
    losses = train(model, examples, pixel_bank, processor.tokenizer.pad_token_id, recipe.sft, model_seed,
                   progress, desc=f"sft {recipe.name}", position=position)
    save_checkpoint(model, processor, out_dir)
    return {
        "model": recipe.name, "family": recipe.family, "seed": model_seed, "examples": len(examples),
        "parameters": sum(p.numel() for p in model.parameters()),
        "trained_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "vision_from": recipe.vision_from, "replicate": replicate, "qformer_pretraining": pretrained,
        "losses": losses,
    }


def _pretrain_qformer(recipe, model, processor, data, world_seed, model_seed, progress, position) -> dict | None:
    """The recipe's Q-Former pretraining, if it has one (``qformer_pretraining.py``); its record."""
    if recipe.qformer_pretraining is None:
        return None
    from aspo_repro.miniworld.qformer_pretraining import pretrain_qformer

    return pretrain_qformer(model, processor, recipe.qformer_pretraining, data, world_seed, model_seed, progress,
                            position)
