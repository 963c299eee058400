"""A stand-in for BLIP-2's first stage: mini-InstructBLIP's Q-Former learns to read an image's parts.

A real InstructBLIP starts from a Q-Former pretrained on 129M images (BLIP-2's representation
learning stage), whose queries have learnt to pass on what is where. The world's SFT scenes are far
too few to teach that, and the language model's loss does not: trained on them, the mini Q-Former's
tokens tell which shapes an image holds but not where (docs/miniworld.md, "What its Q-Former lacks is
images"). So before its SFT, mini-InstructBLIP's Q-Former and query tokens are trained on freshly
rendered scenes (a split of their own, ``qformer-pretraining``: none is an SFT, preference-pool or
benchmark scene) to tell, for each of the grid's cells, which shape is in it or that it is empty,
through a linear head dropped afterwards. The frozen vision tower's outputs are its input, and the
Q-Former reads the world's description prompt as its instruction, as in the SFT. Its size
(``QformerPretraining``) was fixed by the pretraining's own held-out accuracy, never by a base
model's scores (docs/miniworld.md says how).
"""

from __future__ import annotations

from tqdm.auto import tqdm

from aspo_repro.miniworld import lexicon
from aspo_repro.miniworld.config import DataConfig, QformerPretraining
from aspo_repro.miniworld.render import render_scene
from aspo_repro.miniworld.scene import Scene, sample_scenes
from aspo_repro.models.prompting import chat_prompt

SPLIT = "qformer-pretraining"
CONTENTS = ("", *lexicon.SHAPES)  # what a cell holds: nothing, or one of the shapes
RENDER_CHUNK = 500
CHECK_EVERY = 1000  # steps between two measurements of the accuracies (the record's ``by_step``)


def cell_labels(scenes: list[Scene]):
    """Per scene, per cell (row by row), the index in ``CONTENTS`` of what the cell holds."""
    import torch

    return torch.tensor([[CONTENTS.index(obj.shape) if (obj := scene.at(*cell)) else 0 for cell in lexicon.CELLS]
                         for scene in scenes])


def pretrain_qformer(model, processor, pretraining: QformerPretraining, data: DataConfig, world_seed: int,
                     seed: int, progress: bool = True, position: int = 0) -> dict:
    """Train ``model``'s Q-Former and query tokens in place on the per-cell objective; its record: the
    share of cells read right, held out and trained on, every ``CHECK_EVERY`` steps and at the end, and
    what always answering "empty" scores on the held-out scenes."""
    import torch

    scenes = sample_scenes(world_seed, SPLIT, pretraining.scenes + pretraining.held_out, data.bias)
    labels = cell_labels(scenes)
    seen = _tower_outputs(model, processor, scenes, data)
    with torch.no_grad():  # BLIP-2's query tokens start as N(0, 0.02)
        model.query_tokens.normal_(0.0, 0.02, generator=torch.Generator().manual_seed(seed))
    cells = _CellReader(model, processor, len(CONTENTS))
    optimizer = torch.optim.AdamW([*model.qformer.parameters(), model.query_tokens, *cells.head.parameters()],
                                  lr=pretraining.learning_rate)
    generator = torch.Generator().manual_seed(seed)
    fit, curve = pretraining.scenes, {}
    for step in tqdm(range(1, pretraining.steps + 1), desc="pretrain q-former", disable=not progress, leave=False,
                     position=position):
        rows = torch.randint(0, fit, (pretraining.batch_size,), generator=generator)
        loss = torch.nn.functional.cross_entropy(cells(seen[rows]).flatten(0, 1), labels[rows].flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % CHECK_EVERY == 0 or step == pretraining.steps:
            curve[step] = _accuracies(cells, seen, labels, fit)
    return {**pretraining.as_dict(), **curve[pretraining.steps], "by_step": curve,
            "always_empty": round(float((labels[fit:] == 0).float().mean()), 4)}


def _accuracies(cells, seen, labels, fit: int) -> dict[str, float]:
    """The share of cells read right among the held-out scenes and among as many scenes trained on (a
    gap between them is memorisation)."""
    import torch

    held_out = len(labels) - fit
    with torch.no_grad():
        return {name: round(float((cells(seen[rows]).argmax(-1) == labels[rows]).float().mean()), 4)
                for name, rows in (("held_out", slice(fit, None)), ("trained_on", slice(0, min(fit, held_out))))}


def _tower_outputs(model, processor, scenes: list[Scene], data: DataConfig):
    """The frozen vision tower's last hidden states of ``scenes``, rendered as the world renders its images."""
    import torch

    outputs = []
    with torch.no_grad():
        for start in range(0, len(scenes), RENDER_CHUNK):
            images = [render_scene(scene, data.image.image_size, data.grain)
                      for scene in scenes[start:start + RENDER_CHUNK]]
            pixels = processor.image_processor(images, return_tensors="pt")["pixel_values"]
            outputs.append(model.vision_model(pixel_values=pixels).last_hidden_state)
    return torch.cat(outputs)


class _CellReader:
    """The Q-Former's query outputs, for the description prompt, read by a linear head into each cell's
    contents (logits: batch x cells x contents)."""

    def __init__(self, model, processor, contents: int):
        import torch

        self.model = model
        self.queries = model.query_tokens.shape[1]
        prompt = chat_prompt(processor, lexicon.DESCRIBE_PROMPT)  # as the SFT's descriptions give it
        self.instruction = torch.tensor([processor.qformer_tokenizer(prompt)["input_ids"]])
        self.head = torch.nn.Linear(self.queries * model.config.qformer_config.hidden_size,
                                    len(lexicon.CELLS) * contents)
        self.contents = contents

    def __call__(self, seen):
        import torch

        rows = len(seen)
        text = self.instruction.expand(rows, -1)
        mask = torch.ones(rows, self.queries + text.shape[1], dtype=torch.long)
        out = self.model.qformer(input_ids=text, attention_mask=mask, query_embeds=self.model.query_tokens.expand(
            rows, -1, -1), encoder_hidden_states=seen).last_hidden_state[:, :self.queries]
        return self.head(out.reshape(rows, -1)).view(rows, len(lexicon.CELLS), self.contents)
