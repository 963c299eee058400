"""A checkpoint's parameters, counted exactly from its ``config.json`` (no torch model is built).

Each model family answers with its architecture's counter (``ModelFamily.count_parameters``, by part:
vision, connector, language); the memory plan (``orchestration/memory.py``) adds up what they hold
and sizes LoRA on ``TextModel``'s linear layers. ``tests/orchestration/test_memory.py`` and
``benchmarks/memory_plan.py`` compare the counts with real models.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TextModel:
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    tied: bool

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """Each Llama decoder layer's linear layers: (in, out) features."""
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        return {"q_proj": (self.hidden, q), "k_proj": (self.hidden, kv), "v_proj": (self.hidden, kv),
                "o_proj": (q, self.hidden), "gate_proj": (self.hidden, self.intermediate),
                "up_proj": (self.hidden, self.intermediate), "down_proj": (self.intermediate, self.hidden)}

    def layer_parameters(self) -> int:
        return sum(i * o for i, o in self.linear_shapes().values()) + 2 * self.hidden  # two RMSNorms

    def parameters(self) -> int:
        embeddings = self.vocab * self.hidden * (1 if self.tied else 2)
        return embeddings + self.layers * self.layer_parameters() + self.hidden


def text_model(config: dict) -> TextModel:
    text = config["text_config"]
    return TextModel(
        hidden=text["hidden_size"], intermediate=text["intermediate_size"], layers=text["num_hidden_layers"],
        heads=text["num_attention_heads"], kv_heads=text.get("num_key_value_heads") or text["num_attention_heads"],
        vocab=text.get("vocab_size", config.get("vocab_size")), tied=bool(config.get("tie_word_embeddings", False)),
    )


def _vit_layer(hidden: int, intermediate: int) -> int:
    """A ViT encoder layer with biased linear layers: attention (4 projections), MLP, two LayerNorms."""
    return 4 * (hidden * hidden + hidden) + hidden * intermediate + intermediate + intermediate * hidden + hidden \
        + 4 * hidden


def clip_vision_parameters(vision: dict) -> int:
    """transformers' CLIPVisionModel (LLaVA-1.5's tower): patch embedding without bias, class and
    position embeddings, pre- and post-LayerNorm, the encoder."""
    hidden, patches = vision["hidden_size"], (vision["image_size"] // vision["patch_size"]) ** 2
    embeddings = 3 * vision["patch_size"] ** 2 * hidden + hidden + (patches + 1) * hidden
    return embeddings + 4 * hidden + vision["num_hidden_layers"] * _vit_layer(hidden, vision["intermediate_size"])


def llava_parameters(config: dict) -> dict[str, int]:
    vision, text = config["vision_config"], config["text_config"]
    layers = config.get("vision_feature_layer", -2)
    feature_width = vision["hidden_size"] * (len(layers) if isinstance(layers, list) else 1)
    projector = feature_width * text["hidden_size"] + text["hidden_size"] + text["hidden_size"] ** 2 + text["hidden_size"]
    return {"vision": clip_vision_parameters(vision), "connector": projector, "language": text_model(config).parameters()}


def blip_vision_parameters(vision: dict) -> int:
    """InstructBLIP's EVA ViT: a fused qkv projection (biased with ``qkv_bias``), a biased patch embedding."""
    hidden, inter, patches = vision["hidden_size"], vision["intermediate_size"], (vision["image_size"] // vision["patch_size"]) ** 2
    embeddings = hidden + 3 * vision["patch_size"] ** 2 * hidden + hidden + (patches + 1) * hidden
    qkv_bias = 3 * hidden if vision.get("qkv_bias", True) else 0
    layer = 3 * hidden * hidden + qkv_bias + hidden * hidden + hidden + hidden * inter + inter + inter * hidden + hidden \
        + 4 * hidden
    return embeddings + vision["num_hidden_layers"] * layer + 2 * hidden


def qformer_parameters(qformer: dict, num_queries: int) -> int:
    """InstructBLIP's Q-Former: BERT embeddings (it reads the instruction), self-attention on every layer,
    cross-attention to the image every ``cross_attention_frequency`` layers, separate feed-forwards for
    the queries and the text; plus the learned queries."""
    hidden, inter, encoder = qformer["hidden_size"], qformer["intermediate_size"], qformer["encoder_hidden_size"]
    frequency = qformer.get("cross_attention_frequency", 2)

    def attention(key_width: int) -> int:
        return hidden * hidden + hidden + 2 * (key_width * hidden + hidden) + hidden * hidden + hidden + 2 * hidden

    feed_forward = hidden * inter + inter + inter * hidden + hidden + 2 * hidden
    layers = sum(attention(hidden) + (attention(encoder) if index % frequency == 0 else 0) + 2 * feed_forward
                 for index in range(qformer["num_hidden_layers"]))
    embeddings = (qformer["vocab_size"] + qformer.get("max_position_embeddings", 512)) * hidden + 2 * hidden
    return embeddings + layers + num_queries * hidden


def instructblip_parameters(config: dict) -> dict[str, int]:
    qformer, text = config["qformer_config"], config["text_config"]
    connector = qformer_parameters(qformer, config["num_query_tokens"]) + qformer["hidden_size"] * text["hidden_size"] \
        + text["hidden_size"]
    return {"vision": blip_vision_parameters(config["vision_config"]), "connector": connector,
            "language": text_model(config).parameters()}
