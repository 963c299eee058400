"""Start the toy models' vision towers from a contrastively trained open_clip ViT.

The paper's base models do not learn to see from scratch: LLaVA-1.5's vision tower is OpenAI's
CLIP ViT-L/14-336 and InstructBLIP's is EVA-CLIP's ViT-g, both pretrained contrastively and
kept frozen during instruction tuning. The toys do the same with the mini world's CLIP: these
functions copy an open_clip ``VisionTransformer``'s weights into transformers' vision towers
(exactly: the converted tower computes the same function, which the tests check).

- LLaVA's ``CLIPVisionModel`` has a pre-LayerNorm like open_clip's ViT (``ln_pre``);
- InstructBLIP's vision model has none, so its CLIP is trained with ``no_ln_pre``, and its
  fused ``qkv`` takes open_clip's ``in_proj`` as it is.
Both use exact GELU, as open_clip's default ViT does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aspo_repro.models.families import ModelFamily


def _resblock_indices(state: dict) -> list[int]:
    indices = set()
    for key in state:
        if key.startswith("transformer.resblocks."):
            indices.add(int(key.split(".")[2]))
    return sorted(indices)


def _mlp_and_norms(state: dict, source: str, target: str) -> dict:
    pairs = (("ln_1", "layer_norm1"), ("ln_2", "layer_norm2"), ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2"))
    converted = {}
    for old, new in pairs:
        for kind in ("weight", "bias"):
            converted[f"{target}{new}.{kind}"] = state[f"{source}{old}.{kind}"]
    return converted


def llava_vision_state(visual_state: dict) -> dict:
    """An open_clip ViT state dict (``model.visual.state_dict()``) as a ``CLIPVisionModel``'s."""
    converted = {
        "embeddings.class_embedding": visual_state["class_embedding"],
        "embeddings.patch_embedding.weight": visual_state["conv1.weight"],
        "embeddings.position_embedding.weight": visual_state["positional_embedding"],
        "pre_layrnorm.weight": visual_state["ln_pre.weight"],
        "pre_layrnorm.bias": visual_state["ln_pre.bias"],
        "post_layernorm.weight": visual_state["ln_post.weight"],
        "post_layernorm.bias": visual_state["ln_post.bias"],
    }
    for i in _resblock_indices(visual_state):
        source, target = f"transformer.resblocks.{i}.", f"encoder.layers.{i}."
        weights = visual_state[f"{source}attn.in_proj_weight"].chunk(3)
        biases = visual_state[f"{source}attn.in_proj_bias"].chunk(3)
        for name, weight, bias in zip(("q_proj", "k_proj", "v_proj"), weights, biases):
            converted[f"{target}self_attn.{name}.weight"] = weight
            converted[f"{target}self_attn.{name}.bias"] = bias
        converted[f"{target}self_attn.out_proj.weight"] = visual_state[f"{source}attn.out_proj.weight"]
        converted[f"{target}self_attn.out_proj.bias"] = visual_state[f"{source}attn.out_proj.bias"]
        converted.update(_mlp_and_norms(visual_state, source, target))
    return converted


def instructblip_vision_state(visual_state: dict) -> dict:
    """An open_clip ViT without ``ln_pre`` as an ``InstructBlipVisionModel``'s state dict."""
    import torch

    if "ln_pre.weight" in visual_state:
        raise ValueError("InstructBLIP's vision model has no pre-LayerNorm: train its CLIP with no_ln_pre")
    conv = visual_state["conv1.weight"]
    converted = {
        "embeddings.class_embedding": visual_state["class_embedding"].reshape(1, 1, -1),
        "embeddings.position_embedding": visual_state["positional_embedding"].unsqueeze(0),
        "embeddings.patch_embedding.weight": conv,
        "embeddings.patch_embedding.bias": torch.zeros(conv.shape[0], dtype=conv.dtype),
        "post_layernorm.weight": visual_state["ln_post.weight"],
        "post_layernorm.bias": visual_state["ln_post.bias"],
    }
    for i in _resblock_indices(visual_state):
        source, target = f"transformer.resblocks.{i}.", f"encoder.layers.{i}."
        converted[f"{target}self_attn.qkv.weight"] = visual_state[f"{source}attn.in_proj_weight"]
        converted[f"{target}self_attn.qkv.bias"] = visual_state[f"{source}attn.in_proj_bias"]
        converted[f"{target}self_attn.projection.weight"] = visual_state[f"{source}attn.out_proj.weight"]
        converted[f"{target}self_attn.projection.bias"] = visual_state[f"{source}attn.out_proj.bias"]
        converted.update(_mlp_and_norms(visual_state, source, target))
    return converted


def load_vision_tower(model, family: ModelFamily, visual_state: dict, freeze: bool = True) -> None:
    """Copy the CLIP ViT into the vision tower of ``model``, of ``family`` (strictly: every weight,
    nothing else) and, like the paper's models, freeze it."""
    tower = family.vision_tower(model)
    tower.load_state_dict(family.vision_state(visual_state), strict=True)
    if freeze:
        tower.requires_grad_(False)

