"""Batched greedy answers: the same whatever the batch, for both families."""

from __future__ import annotations

import pytest
import torch
from prefs_helpers import QUESTIONS, load_tiny, write_source

from aspo_repro.data.generation import answer_pairs, pads_last, prepare_for_generation


def test_pads_last_moves_padding_to_the_end_keeping_order():
    ids = torch.tensor([[0, 0, 7, 8], [5, 6, 7, 8]])
    mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    new_ids, new_mask = pads_last(ids, mask)
    assert new_ids.tolist() == [[7, 8, 0, 0], [5, 6, 7, 8]]
    assert new_mask.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]


@pytest.mark.parametrize("family", ["llava", "instructblip"])
def test_an_answer_does_not_depend_on_its_batch(family, request, tmp_path):
    from PIL import Image

    model, processor = load_tiny(request.getfixturevalue(f"tiny_{family}_dir"))
    prepare_for_generation(model, processor)
    _, image_dir = write_source(tmp_path, 3)
    images = [Image.open(image_dir / f"{i:012d}.png").convert("RGB") for i in range(3)]
    questions, seeds = list(QUESTIONS[:3]), [4, 5, 6]
    together = answer_pairs(model, processor, images, questions, seeds, noise_step=500, max_new_tokens=6)
    alone = [answer_pairs(model, processor, [image], [question], [seed], noise_step=500, max_new_tokens=6)[0]
             for image, question, seed in zip(images, questions, seeds)]
    assert together == alone
    assert all(pair.chosen for pair in together)
