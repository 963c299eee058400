"""Stand-ins of the paper's checkpoints: each paper model's own config, shrunk, with random weights,
saved in the Hugging Face hub cache's layout so the paper profile loads it exactly as it loads
a downloaded snapshot (``models--ORG--NAME/snapshots/REV/`` and ``refs/main``).

The config comes from ``configs/models/<name>.json`` (the hub checkpoint's ``config.json``);
only depth, widths and the vocabulary change (:class:`Shrink`); image size, patch size, query
tokens, activations, norms and feature-layer choices stay the paper's. The processor
(``standin_processors.py``) keeps LLaVA-1.5's image processor settings and chat template
(InstructBLIP's has no chat template, as on the hub); the tokenizer is a small BPE trained here,
with LLaMA's special tokens.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from aspo_repro import storage
from aspo_repro.files import read_json_object
from aspo_repro.models.families import family_of_model_type
from aspo_repro.repository import REPO_ROOT

PAPER_CONFIG_DIR = REPO_ROOT / "configs" / "models"

UNK, BOS, EOS, IMAGE, PAD = "<unk>", "<s>", "</s>", "<image>", "<pad>"
QFORMER_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
VOCAB_MULTIPLE = 64  # LLaVA-1.5 pads its 32002 tokens to 32064 rows


@dataclass(frozen=True)
class Shrink:
    """What a stand-in changes in the paper's config: depth and widths (everything else is kept)."""

    layers: int = 2
    text_hidden: int = 64
    text_heads: int = 4
    text_intermediate: int = 128
    vision_hidden: int = 32
    vision_heads: int = 2
    vision_intermediate: int = 64
    qformer_hidden: int = 32
    qformer_heads: int = 2
    qformer_intermediate: int = 64
    vocab_size: int = 1024  # the BPE tokenizer's target size


def paper_config(model: str) -> dict:
    """The hub ``config.json`` of a paper model, as kept in ``configs/models/``."""
    config = read_json_object(PAPER_CONFIG_DIR / f"{model}.json", "paper model config")
    return {key: value for key, value in config.items() if not key.startswith("_")}


def _padded(size: int) -> int:
    return -(-size // VOCAB_MULTIPLE) * VOCAB_MULTIPLE


def shrunk_config(model: str, shrink: Shrink, tokenizer, qformer_tokenizer=None):
    """The transformers config of ``model``'s stand-in."""
    from transformers import AutoConfig

    config = paper_config(model)
    vocab = _padded(len(tokenizer))
    text = {**config["text_config"], "hidden_size": shrink.text_hidden, "intermediate_size": shrink.text_intermediate,
            "num_hidden_layers": shrink.layers, "num_attention_heads": shrink.text_heads,
            "num_key_value_heads": shrink.text_heads, "vocab_size": vocab,
            "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id}
    vision = {**config["vision_config"], "hidden_size": shrink.vision_hidden, "num_hidden_layers": shrink.layers,
              "intermediate_size": shrink.vision_intermediate, "num_attention_heads": shrink.vision_heads}
    fields = {**config, "text_config": text, "vision_config": vision}
    fields.pop("architectures", None)
    fields.pop("torch_dtype", None)
    model_type = fields.pop("model_type")
    if family_of_model_type(model_type).has_qformer:
        fields["qformer_config"] = {
            **config["qformer_config"], "hidden_size": shrink.qformer_hidden, "num_hidden_layers": shrink.layers,
            "intermediate_size": shrink.qformer_intermediate, "num_attention_heads": shrink.qformer_heads,
            "encoder_hidden_size": shrink.vision_hidden, "vocab_size": len(qformer_tokenizer),
            "pad_token_id": qformer_tokenizer.pad_token_id}
        fields["image_token_index"] = tokenizer.convert_tokens_to_ids(IMAGE)
    else:
        vision["projection_dim"] = shrink.vision_hidden
        fields.update(vocab_size=vocab, image_token_index=tokenizer.convert_tokens_to_ids(IMAGE),
                      pad_token_id=tokenizer.pad_token_id)
    return AutoConfig.for_model(model_type, **fields)


# ----------------------------------------------------------------------------- tokenizers

def llama_like_tokenizer(corpus: Iterable[str], vocab_size: int, *, image_token_attribute: bool):
    """A BPE tokenizer trained on ``corpus`` with LLaMA's conventions: ``<unk> <s> </s>`` first,
    sentencepiece-style word boundaries (``▁``), ``<s>`` prepended; ``<image>`` and ``<pad>`` added
    after the vocabulary as LLaVA-1.5 adds them."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Metaspace()
    core.decoder = decoders.Metaspace()
    core.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[UNK, BOS, EOS],
                                                         show_progress=False))
    core.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", pair=f"{BOS} $A $B",
                                                        special_tokens=[(BOS, core.token_to_id(BOS))])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token=UNK, bos_token=BOS, eos_token=EOS, padding_side="left",
        model_max_length=2048,
        **({"extra_special_tokens": {"image_token": IMAGE}} if image_token_attribute else {}),
    )
    tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE], "pad_token": PAD})
    return tokenizer


def qformer_tokenizer(corpus: Iterable[str], vocab_size: int):
    """A lower-casing WordPiece tokenizer with BERT's special tokens (InstructBLIP's Q-Former reads BERT ids)."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    core.normalizer = normalizers.BertNormalizer(lowercase=True)
    core.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    core.decoder = decoders.WordPiece()
    core.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=list(QFORMER_SPECIALS),
                                                               show_progress=False))
    cls, sep = core.token_to_id("[CLS]"), core.token_to_id("[SEP]")
    core.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=512)


# ----------------------------------------------------------------------------- building

def build_standin(model: str, corpus: list[str], out_dir: Path, shrink: Shrink = Shrink(), seed: int = 0) -> Path:
    """Save the stand-in of paper ``model`` (random weights, seed ``seed``) into ``out_dir``."""
    import torch
    from transformers import AutoModelForImageTextToText

    family = family_of_model_type(paper_config(model)["model_type"])
    tokenizer = llama_like_tokenizer(corpus, shrink.vocab_size, image_token_attribute=family.image_in_prompt)
    qformer = qformer_tokenizer(corpus, shrink.vocab_size) if family.has_qformer else None
    config = shrunk_config(model, shrink, tokenizer, qformer)
    torch.manual_seed(seed)
    network = AutoModelForImageTextToText.from_config(config)
    let_the_image_reach_the_answer(network)
    generation = network.generation_config
    generation.bos_token_id, generation.eos_token_id = tokenizer.bos_token_id, tokenizer.eos_token_id
    generation.pad_token_id = tokenizer.pad_token_id
    processor = family.standin_processor(tokenizer, qformer, config)
    network.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


VISION_GAIN = 4.0


def let_the_image_reach_the_answer(network) -> None:
    """Re-draw the image side's weights (vision tower, projector or Q-Former and its query tokens)
    at ``VISION_GAIN / sqrt(fan_in)``. At transformers' initialisation (std 0.02; InstructBLIP's
    query tokens at zero) a random model answers every image alike, so SeVa's clean and noised
    answers would all be identical and nothing would be left to train on."""
    import torch

    with torch.no_grad():
        for name, parameter in network.named_parameters():
            if parameter.dim() >= 2 and "language_model" not in name and "lm_head" not in name:
                parameter.normal_(0.0, VISION_GAIN / parameter.shape[-1] ** 0.5)


def snapshot_dir(hub_cache: Path, repo_id: str, revision: str) -> Path:
    return hub_cache / f"models--{repo_id.replace('/', '--')}" / "snapshots" / revision


def write_hub_snapshot(hub_cache: Path, repo_id: str, build, identity: object) -> Path:
    """``build(directory)`` written as the ``main`` snapshot of ``repo_id`` in ``hub_cache``.

    The revision is a hash of ``identity``; ``refs/main`` is written last, so an interrupted
    build leaves no snapshot the hub client would resolve. A complete one is reused.
    """
    revision = storage.stable_hash(["standin", repo_id, identity])[:40]
    target = snapshot_dir(hub_cache, repo_id, revision)
    ref = target.parents[1] / "refs" / "main"
    if ref.is_file() and ref.read_text().strip() == revision and (target / "config.json").is_file():
        return target
    with storage.atomic_directory(target, replace=True) as staging:
        build(staging)
    storage.atomic_write_text(ref, revision)
    return target


def write_standins(hub_cache: Path, models: Iterable[str], corpus: list[str], shrink: Shrink = Shrink(),
                   seed: int = 0, log=print) -> dict[str, Path]:
    """Every paper ``model``'s stand-in in ``hub_cache`` under its registry hub id; {model: snapshot}."""
    from aspo_repro.models import get_model_spec

    written = {}
    for model in models:
        repo_id = get_model_spec(model).source
        identity = {"config": paper_config(model), "shrink": dataclasses.asdict(shrink), "seed": seed,
                    "corpus": storage.stable_hash(corpus)}
        log(f"stand-in of {model} ({repo_id}) in {hub_cache}")
        written[model] = write_hub_snapshot(hub_cache, repo_id, lambda d, m=model: build_standin(m, corpus, d, shrink, seed),
                                            identity)
    return written
