"""Evaluation protocols: whose settings the paper profile's lmms-eval benchmarks run with.

A protocol answers what differs between LLaVA-1.5's own evaluation and lmms-eval's defaults:
the conversation a LLaVA checkpoint is prompted in (and, for the same protocol, trained and
asked for preference data in), how its images are preprocessed, each lmms-eval task's prompt,
answer parsing and decoding (task-config overrides that lmms-eval merges into its own task
configs, pointing at functions here where a rule differs), and which judge model each judged
benchmark asks for. ``docs/protocol.md`` tabulates every setting with its source.

- ``llava``: LLaVA-1.5's protocol (haotian-liu/LLaVA's ``scripts/v1_5/eval``), the paper profile's default;
- ``lmms-eval``: lmms-eval 0.7.3's defaults, unchanged.

The mini profile's own tasks and models are untouched by either.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aspo_repro.errors import unknown_name
from aspo_repro.models.families import family_of_model_type

# llava/conversation.py, conv_vicuna_v1 (SeparatorStyle.TWO, sep " ", sep2 "</s>"): every LLaVA-1.5
# evaluation script's conversation, and SeVa's for its preference data and training.
VICUNA_V1_SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
                    "The assistant gives helpful, detailed, and polite answers to the user's questions.")
# Renders conv_vicuna_v1's prompt: SYSTEM " USER: <image>\n" question " ASSISTANT:", and an answer as
# " " answer "</s>". Content may be a string (lmms-eval's llava_hf sends "<image>\n" + question) or
# typed parts (the processor's convention: image parts render as "<image>\n" before the text).
VICUNA_V1_TEMPLATE = (
    "{%- set ns = namespace(text='') -%}"
    "{{- '" + VICUNA_V1_SYSTEM.replace("'", "\\'") + " ' -}}"
    "{%- for message in messages -%}"
    "{%- if message['content'] is string -%}{%- set ns.text = message['content'] -%}"
    "{%- else -%}{%- set ns.text = '' -%}"
    "{%- for part in message['content'] if part['type'] == 'image' -%}{%- set ns.text = ns.text + '<image>\n' -%}"
    "{%- endfor -%}"
    "{%- for part in message['content'] if part['type'] == 'text' -%}{%- set ns.text = ns.text + part['text'] -%}"
    "{%- endfor -%}{%- endif -%}"
    "{%- if message['role'] == 'user' -%}{{- 'USER: ' + ns.text + ' ' -}}"
    "{%- elif message['role'] == 'assistant' -%}{{- 'ASSISTANT: ' + ns.text + eos_token -}}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- 'ASSISTANT:' -}}{%- endif -%}"
)

SHORT_ANSWER = "\nAnswer the question using a single word or phrase."
LETTER_ANSWER = "\nAnswer with the option's letter from the given choices directly."
LETTER_ANSWER_CN = "\n请直接回答选项字母。"
MMBENCH_LETTERS = ("A", "B", "C", "D")  # model_vqa_mmbench.py's all_options


# ----------------------------------------------------------------------------- LLaVA-1.5's rules

def llava_pope_answer(text: str) -> str:
    """LLaVA-1.5's reading of a POPE answer (llava/eval/eval_pope.py): the first sentence, commas
    dropped, split at spaces; "no" if a word is "No", "not" or "no", else "yes"."""
    if text.find(".") != -1:
        text = text.split(".")[0]
    words = text.replace(",", "").split(" ")
    return "no" if ("No" in words or "not" in words or "no" in words) else "yes"


def llava_pope_process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """lmms-eval's POPE scoring of the answer as LLaVA-1.5 reads it (the raw answer stays in the log)."""
    from lmms_eval.tasks.pope.utils import pope_process_results

    return pope_process_results(doc, [llava_pope_answer(results[0])])


def _is_none(value: Any) -> bool:
    """model_vqa_mmbench.py's is_none: None, NaN, "nan" and "none" mean no value (and, here, an empty string)."""
    return (value is None or (isinstance(value, float) and math.isnan(value))
            or (isinstance(value, str) and value.strip().lower() in ("", "nan", "none")))


def _mmbench_question(doc: dict[str, Any]) -> str:
    """model_vqa_mmbench.py's question: the hint (if any), the question and the options up to the first empty one."""
    question = doc["question"] if _is_none(doc.get("hint")) else f"{doc['hint']}\n{doc['question']}"
    for letter in MMBENCH_LETTERS:
        if _is_none(doc.get(letter)):
            break
        question += f"\n{letter}. {doc[letter]}"
    return question


def llava_mmbench_en_doc_to_text(doc: dict[str, Any], lmms_eval_specific_kwargs: dict | None = None) -> str:
    return _mmbench_question(doc) + LETTER_ANSWER


def llava_mmbench_cn_doc_to_text(doc: dict[str, Any], lmms_eval_specific_kwargs: dict | None = None) -> str:
    return _mmbench_question(doc) + LETTER_ANSWER_CN


# ----------------------------------------------------------------------------- protocols

@dataclass(frozen=True)
class EvalProtocol:
    name: str
    description: str
    # The chat template prompts are built with, for a checkpoint of a family the protocol presents
    # (``ModelFamily.presented_by_protocol``); None: the checkpoint's own.
    conversation: str | None = None
    # Whether such a checkpoint's images are padded to a square with the mean colour (else centre-cropped).
    pads_images_to_square: bool = False
    # by lmms-eval task: keys merged into its task config when it is loaded (lmms-eval's own mechanism)
    task_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # by lmms-eval task: decoding settings merged into its generation_kwargs after loading
    generation: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # by benchmark: the judge model asked for (None: lmms-eval's or the environment's choice)
    judge_models: Mapping[str, str] = field(default_factory=dict)

    def chat_template(self, model_type: str | None) -> str | None:
        """The chat template a checkpoint of config ``model_type`` is prompted with (None: its own)."""
        return self.conversation if _presents(model_type) else None

    def pads_to_square(self, model_type: str | None) -> bool:
        return self.pads_images_to_square and _presents(model_type)

    def task_config(self, config: str | dict[str, Any]) -> str | dict[str, Any]:
        """``config`` (a task name or a task-config dict) with this protocol's overrides for its task."""
        task = config if isinstance(config, str) else config["task"]
        overrides = self.task_overrides.get(task)
        if not overrides:
            return config
        base = {"task": config} if isinstance(config, str) else dict(config)
        return {**base, **copy.deepcopy(dict(overrides))}  # lmms-eval mutates what it is given

    def adjust_generation(self, tasks: list) -> None:
        """Merge this protocol's decoding settings into each loaded task's generation_kwargs."""
        for task in tasks:
            settings = self.generation.get(task.config.task)
            if settings:
                task.config.generation_kwargs = {**(task.config.generation_kwargs or {}), **settings}

    def judge_model(self, benchmark_name: str) -> str | None:
        return self.judge_models.get(benchmark_name)

    def prepare_processor(self, processor, model_type: str | None):
        """``processor`` set up as this protocol presents prompts and images to a ``model_type``
        checkpoint: the protocol's chat template (processor and tokenizer) and, where it pads,
        transformers' LlavaImageProcessor with ``do_pad`` (LLaVA-1.5's expand2square with the
        mean colour) built from the checkpoint's own image-processor settings."""
        template = self.chat_template(model_type)
        if template is not None:
            processor.chat_template = template
            tokenizer = getattr(processor, "tokenizer", None)
            if tokenizer is not None:
                tokenizer.chat_template = template
        if self.pads_to_square(model_type):
            processor.image_processor = padded_image_processor(processor.image_processor)
        return processor


def _presents(model_type: str | None) -> bool:
    """Whether a protocol's conversation and image preprocessing apply to a ``model_type`` checkpoint."""
    family = family_of_model_type(model_type)
    return family is not None and family.presented_by_protocol


def padded_image_processor(image_processor):
    """``image_processor``'s settings in a LlavaImageProcessor that pads to a square first."""
    from transformers import LlavaImageProcessor

    settings = {key: value for key, value in image_processor.to_dict().items()
                if key not in ("image_processor_type", "processor_class")}
    return LlavaImageProcessor.from_dict({**settings, "do_pad": True})


SHORT_ANSWER_DECODING = {"max_new_tokens": 128, "temperature": 0, "top_p": None, "num_beams": 1, "do_sample": False}
LONG_ANSWER_DECODING = {**SHORT_ANSWER_DECODING, "max_new_tokens": 1024}
SHORT_ANSWER_TASKS = ("gqa", "pope_random", "pope_pop", "pope_adv", "scienceqa_img", "seedbench",
                      "mmbench_en_dev", "mmbench_en_test", "mmbench_cn_dev")
LONG_ANSWER_TASKS = ("mmvet", "llava_in_the_wild")

LLAVA = EvalProtocol(
    name="llava",
    description="LLaVA-1.5's own evaluation: the vicuna_v1 conversation with its system prompt, images padded "
                "to a square, its prompts, greedy decoding, eval_pope.py's answer reading, the paper's judges",
    conversation=VICUNA_V1_TEMPLATE,
    pads_images_to_square=True,
    task_overrides={
        **{task: {"process_results": llava_pope_process_results} for task in ("pope_random", "pope_pop", "pope_adv")},
        "mmbench_en_dev": {"doc_to_text": llava_mmbench_en_doc_to_text},
        "mmbench_en_test": {"doc_to_text": llava_mmbench_en_doc_to_text},
        "mmbench_cn_dev": {"doc_to_text": llava_mmbench_cn_doc_to_text},
        "mmvet": {"lmms_eval_specific_kwargs": {"default": {"pre_prompt": "", "post_prompt": ""}}},
    },
    generation={**{task: SHORT_ANSWER_DECODING for task in SHORT_ANSWER_TASKS},
                **{task: LONG_ANSWER_DECODING for task in LONG_ANSWER_TASKS}},
    judge_models={"mmvet": "gpt-4-0613", "llava_wild": "gpt-4-0314", "shr": "gpt-4"},
)
LMMS_EVAL = EvalProtocol(
    name="lmms-eval",
    description="lmms-eval 0.7.3's defaults: each checkpoint's own chat template and image processor, "
                "lmms-eval's task prompts, parsing, decoding and judges",
)
PROTOCOLS: dict[str, EvalProtocol] = {p.name: p for p in (LLAVA, LMMS_EVAL)}
DEFAULT_PROTOCOL = LLAVA.name


def get_protocol(name: str) -> EvalProtocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise unknown_name("evaluation protocol", name, PROTOCOLS) from None
