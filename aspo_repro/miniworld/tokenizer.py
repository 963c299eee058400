"""The world's closed-vocabulary, word-level fast tokenizer and its chat templates.

Built with the ``tokenizers`` library (a WordLevel model over the world's words, whitespace
and punctuation pre-tokenization, a decoder that re-attaches punctuation) and wrapped as a
transformers fast tokenizer, so ``return_offsets_mapping`` works and ``save_pretrained`` /
``AutoTokenizer.from_pretrained`` round-trip offline. A ``<s>`` is prepended to every
encoding (like LLaMA's tokenizer); ``</s>`` ends an assistant turn.

Chat format (LLaVA-1.5's, without the system line): ``USER: <image>\\n{prompt} ASSISTANT: {answer}</s>``.
The InstructBLIP template leaves the image out: its processor prepends the query tokens.
"""

from __future__ import annotations

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

from aspo_repro.miniworld.questions import vocabulary_texts

PAD, UNK, BOS, EOS, IMAGE = "<pad>", "<unk>", "<s>", "</s>", "<image>"
SPECIAL_TOKENS = (PAD, UNK, BOS, EOS, IMAGE)
MAX_LENGTH = 256

_CONTENT = (
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}{{ IMAGE }}"
    "{%- elif part['type'] == 'text' -%}{{ part['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
)


def chat_template(with_image: bool) -> str:
    """Jinja chat template; content may be a string or a list of ``image``/``text`` parts."""
    image = "'<image>\\n'" if with_image else "''"
    return (
        "{%- set IMAGE = " + image + " -%}"
        "{%- for message in messages -%}"
        "{%- if message['role'] == 'user' -%}{{ 'USER: ' }}" + _CONTENT + "{{ ' ' }}"
        "{%- elif message['role'] == 'assistant' -%}{{ 'ASSISTANT: ' }}" + _CONTENT + "{{ '</s> ' }}"
        "{%- endif -%}{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{ 'ASSISTANT:' }}{%- endif -%}"
    )


def world_words() -> list[str]:
    pre = pre_tokenizers.Whitespace()
    words = {piece for text in vocabulary_texts() for piece, _ in pre.pre_tokenize_str(text)}
    return sorted(words)


def build_tokenizer(with_image_in_template: bool = True):
    """The world tokenizer as a transformers fast tokenizer (deterministic: sorted vocabulary).

    ``with_image_in_template`` selects LLaVA's chat template (and the ``image_token``
    attribute LlavaProcessor reads) or InstructBLIP's (no image placeholder and no
    ``image_token`` attribute: InstructBlipProcessor registers ``<image>`` itself, as an
    ``AddedToken``, which it needs).
    """
    from transformers import PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate([*SPECIAL_TOKENS, *world_words()])}
    core = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    core.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in SPECIAL_TOKENS])
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    core.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, vocab[BOS])])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token=PAD, unk_token=UNK, bos_token=BOS, eos_token=EOS,
        model_max_length=MAX_LENGTH, padding_side="right",
        **({"extra_special_tokens": {"image_token": IMAGE}} if with_image_in_template else {}),
    )
    tokenizer.chat_template = chat_template(with_image_in_template)
    return tokenizer
