"""The evaluation protocols (evaluation/protocols.py, docs/protocol.md) through lmms-eval itself.

Each protocol's task configs load through the runner's TaskManager and ``load_tasks`` against the
rehearsal's stand-in hub datasets; under ``llava`` every benchmark's document is prompted with
LLaVA-1.5's text (the expected strings are written out here from LLaVA-1.5's rules, not taken from
the code under test), POPE answers are read as LLaVA's eval_pope.py reads them, the judged tasks ask
for the paper's judges, and lmms-eval's adapter prompts in the vicuna_v1 conversation with images
padded to a square. Under ``lmms-eval`` none of that changes lmms-eval's defaults.
"""

from __future__ import annotations

import os

import pytest
import torch
from PIL import Image, ImageDraw

from aspo_repro.errors import UserError
from aspo_repro.evaluation import judging, lmms_model, protocols, runner, task_inputs
from aspo_repro.evaluation.benchmarks import get_benchmark
from aspo_repro.evaluation.settings import EvalSettings
from aspo_repro.rehearsal import benchmark_data as bd
from aspo_repro.rehearsal import checkpoints, standin_processors

SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. The assistant gives "
          "helpful, detailed, and polite answers to the user's questions.")
SHORT = "\nAnswer the question using a single word or phrase."
LETTER = "\nAnswer with the option's letter from the given choices directly."
PROMPTED = ("gqa", "pope", "sqa_img", "seed_image", "mmbench_dev", "mmbench_cn", "mmvet", "llava_wild")


def llava_prompt(task: str, doc: dict) -> str:
    """LLaVA-1.5's question text for ``doc`` (its question files and model_vqa*.py --single-pred-prompt)."""
    if task in ("gqa", "pope_random", "pope_pop", "pope_adv"):
        return doc["question"] + SHORT
    if task == "scienceqa_img":
        context = f"Context: {doc['hint']}\n" if doc["hint"] else ""
        options = "".join(f"\n{letter}. {choice}" for letter, choice in zip("ABCDE", doc["choices"]))
        return context + doc["question"] + options + LETTER
    if task == "seedbench":
        options = "".join(f"\n{letter}. {doc['choice_' + letter.lower()]}" for letter in "ABCD")
        return doc["question"] + options + LETTER
    if task in ("mmbench_en_dev", "mmbench_cn_dev"):
        hint = "" if doc["hint"] in (None, "nan", "") else doc["hint"] + "\n"
        options = "".join(f"\n{letter}. {doc[letter]}" for letter in "ABCD" if doc.get(letter) not in (None, "nan", ""))
        return hint + doc["question"] + options + (LETTER if task == "mmbench_en_dev" else "\n请直接回答选项字母。")
    if task in ("mmvet", "llava_in_the_wild"):
        return doc["question"]
    raise AssertionError(task)


@pytest.fixture(scope="module", autouse=True)
def environment(tmp_path_factory):
    """Datasets caches under tmp, and an OpenAI key: mmvet's and MMBench's utils build their judge
    clients when loaded (never called here)."""
    import datasets

    cache = tmp_path_factory.mktemp("hf_datasets_cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LMMS_EVAL_DATASETS_CACHE", str(cache))
        patch.setattr(datasets.config, "HF_DATASETS_CACHE", str(cache))
        patch.setenv("OPENAI_API_KEY", os.environ.get("OPENAI_API_KEY") or "sk-not-used")
        patch.delenv("MODEL_VERSION", raising=False)
        yield


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    images = []
    for i, size in enumerate(((64, 48), (40, 40), (30, 50)), start=1):
        image = Image.new("RGB", size, (40 * i, 200 - 50 * i, 90))
        ImageDraw.Draw(image).rectangle((4, 4, 4 + 6 * i, 4 + 5 * i), fill=(250, 250, 250))
        images.append(image)
    root = tmp_path_factory.mktemp("hub")
    bd.write_benchmark_datasets(root, images, rows=4, seed=3)
    return root


def settings(dataset_dir, protocol: str, **more) -> EvalSettings:
    return EvalSettings(benchmarks="paper", dataset_dir=dataset_dir, protocol=protocol, **more)


def loaded(evaluation: EvalSettings, name: str) -> list:
    """The benchmark's lmms-eval tasks as the runner loads them (overrides, judge pins, decoding)."""
    benchmark = get_benchmark(name)
    configs = task_inputs.protocol_task_configs(evaluation, benchmark,
                                           task_inputs.task_configs(benchmark, None, evaluation.dataset_dir))
    with judging.judge_environment(evaluation, benchmark):
        tasks = runner.load_tasks(benchmark, configs, runner.task_manager("paper"))
    evaluation.protocol.adjust_generation(tasks)
    return tasks


@pytest.mark.slow
@pytest.mark.parametrize("name", PROMPTED)
def test_the_llava_protocol_prompts_each_benchmark_as_llava_1_5(dataset_dir, name):
    for task in loaded(settings(dataset_dir, "llava"), name):
        docs = list(task.test_docs())
        for doc in docs[:3]:
            assert task.doc_to_text(doc) == llava_prompt(task.config.task, doc)
        decoding = task.config.generation_kwargs
        assert decoding["temperature"] == 0 and decoding["num_beams"] == 1
        assert decoding["max_new_tokens"] == (1024 if name in ("mmvet", "llava_wild") else 128)


@pytest.mark.slow
def test_the_lmms_eval_protocol_keeps_lmms_evals_prompts(dataset_dir):
    [mmvet] = loaded(settings(dataset_dir, "lmms-eval"), "mmvet")
    doc = next(iter(mmvet.test_docs()))
    assert mmvet.doc_to_text(doc).startswith("First please perform reasoning")
    assert mmvet.config.generation_kwargs["temperature"] == 0.2
    [mmbench] = loaded(settings(dataset_dir, "lmms-eval"), "mmbench_dev")
    assert "There are several options:" in mmbench.doc_to_text(next(iter(mmbench.test_docs())))


@pytest.mark.parametrize(("answer", "read"), [
    ("No, there is not.", "no"), ("Yes.", "yes"), ("There is no dog.", "no"), ("yes", "yes"),
    ("Yes, there is a dog. It is not a cat.", "yes"), ("No", "no"), ("I do not see one", "no"),
])
def test_pope_answers_are_read_as_llavas_eval_pope(answer, read):
    assert protocols.llava_pope_answer(answer) == read


@pytest.mark.slow
def test_pope_scores_lenient_answers_under_llava_and_exact_ones_under_lmms_eval(dataset_dir):
    [llava] = loaded(settings(dataset_dir, "llava"), "pope")[:1]
    [stock] = loaded(settings(dataset_dir, "lmms-eval"), "pope")[:1]
    doc = next(d for d in llava.test_docs() if d["answer"] == "no")
    lenient = llava.process_results(doc, ["No, there is not."])["pope_f1_score"]
    exact = stock.process_results(doc, ["No, there is not."])["pope_f1_score"]
    assert (lenient["prediction"], lenient["score"]) == ("no", 1.0)
    assert exact["score"] == 0.0


@pytest.mark.slow
def test_judged_tasks_ask_for_the_paper_judges_under_llava(dataset_dir):
    """lmms-eval reads MODEL_VERSION when a task's utils are loaded: the pin must reach them."""
    def judge_of(protocol: str, name: str, **more) -> str:
        [task] = loaded(settings(dataset_dir, protocol, **more), name)
        return task.config.process_results.__globals__["MODEL_VERSION"]

    assert judge_of("llava", "mmvet") == "gpt-4-0613"
    assert judge_of("llava", "llava_wild") == "gpt-4-0314"
    assert judge_of("lmms-eval", "mmvet") == "gpt-4o-2024-11-20"  # lmms-eval's default
    assert judge_of("llava", "llava_wild", judge_models={"llava_wild": "gpt-4-turbo"}) == "gpt-4-turbo"
    assert settings(dataset_dir, "llava").judge_model(get_benchmark("shr")) == "gpt-4"


def test_unknown_protocols_and_judged_benchmarks_are_refused_by_name():
    with pytest.raises(UserError, match="unknown evaluation protocol 'llava2'.*llava, lmms-eval"):
        EvalSettings(benchmarks="paper", protocol="llava2")
    with pytest.raises(UserError, match="judge_models: 'gqa'"):
        EvalSettings(benchmarks="paper", judge_models={"gqa": "gpt-4"})


def test_the_pad_to_square_processor_pads_with_the_mean_colour():
    from transformers import CLIPImageProcessor

    clip = CLIPImageProcessor(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336},
                              resample=3, image_mean=standin_processors.OPENAI_CLIP_MEAN, image_std=standin_processors.OPENAI_CLIP_STD)
    image = Image.new("RGB", (400, 300), (250, 20, 20))  # 4:3, as COCO: 50 pixel bands above and below
    padded = protocols.padded_image_processor(clip)(images=[image], return_tensors="pt")["pixel_values"][0]
    cropped = clip(images=[image], return_tensors="pt")["pixel_values"][0]
    assert padded.shape == cropped.shape == (3, 336, 336)
    band = 50 * 336 // 400
    assert padded[:, : band - 1].abs().max() < 0.02 and padded[:, -band + 1:].abs().max() < 0.02  # the mean colour
    assert torch.allclose(padded[:, 168], cropped[:, 168], atol=0.05)  # the image itself, unchanged
    assert cropped[:, :band].abs().min() > 0.5  # the centre crop has no border


# ----------------------------------------------------------------------------- lmms-eval's adapter

TINY = checkpoints.Shrink(layers=1, text_hidden=32, text_heads=2, text_intermediate=64, vision_hidden=16,
                          vision_heads=2, vision_intermediate=32, vocab_size=300)
QUESTION = "Is there a red car in the image?" + SHORT


@pytest.fixture(scope="module")
def llava_dir(tmp_path_factory):
    hub = tmp_path_factory.mktemp("standins")
    corpus = [QUESTION, SYSTEM, "USER: ASSISTANT: yes no"]
    return checkpoints.write_standins(hub, ["llava-1.5-7b"], corpus, TINY, log=lambda *_: None)["llava-1.5-7b"]


def prompt_and_pixels(model_dir, protocol: str):
    """The prompt and pixels lmms-eval's llava_hf (as the runner builds it) hands its processor."""
    from lmms_eval.api.instance import Instance
    from lmms_eval.api.task import ConfigurableMessagesTask

    adapter = lmms_model.build_model(EvalSettings(model_dir=model_dir, benchmarks="paper", batch_size=1,
                                                     device="cpu", protocol=protocol), "llava_hf")
    recorder = Recording(adapter._image_processor)
    adapter._image_processor = recorder
    image = Image.new("RGB", (64, 48), (250, 20, 20))
    adapter.task_dict = {"check": {"test": [{"question": QUESTION}]}}
    messages = lambda doc: ConfigurableMessagesTask._build_user_turn([image], doc["question"])  # noqa: E731
    gen_kwargs = {"max_new_tokens": 2, "temperature": 0, "num_beams": 1, "do_sample": False}
    request = Instance("generate_until", (QUESTION, messages, gen_kwargs, 0, "check", "test"), 0,
                       {"task": "check", "doc_id": 0, "repeats": 1})
    adapter.generate_until([request])
    [(text, pixels)] = recorder.sent
    return text, pixels[0]


class Recording:
    """A processor that records the prompt and the pixels of each call."""

    def __init__(self, processor) -> None:
        self.wrapped, self.sent = processor, []

    def __call__(self, *args, **kwargs):
        inputs = self.wrapped(*args, **kwargs)
        self.sent.append((kwargs["text"], inputs["pixel_values"]))
        return inputs

    def __getattr__(self, name):
        return getattr(self.wrapped, name)


@pytest.mark.slow
def test_llava_hf_prompts_in_vicuna_v1_with_padded_images_under_llava(llava_dir):
    text, pixels = prompt_and_pixels(llava_dir, "llava")
    assert text == f"{SYSTEM} USER: <image>\n{QUESTION} ASSISTANT:"
    assert pixels[:, :20].abs().max() < 0.02  # 64x48: the top band is the mean colour
    text, pixels = prompt_and_pixels(llava_dir, "lmms-eval")
    assert SYSTEM not in text and QUESTION in text
    assert pixels[:, :20].abs().min() > 0.5  # centre-cropped: the image reaches the edge


@pytest.mark.slow
def test_generation_and_training_prompt_as_the_evaluation_does(llava_dir):
    from aspo_repro.models.loading import load_model_and_processor
    from aspo_repro.models.prompting import chat_prompt
    from aspo_repro.training.formatting import PairFormatter

    _, processor = load_model_and_processor(llava_dir, protocol="llava")
    evaluated, _ = prompt_and_pixels(llava_dir, "llava")
    assert chat_prompt(processor, QUESTION) == evaluated
    pair = PairFormatter.for_processor(processor, "llava").format(QUESTION, "Yes.", "No.")
    assert pair.prompt == processor.tokenizer.bos_token + evaluated
    assert pair.chosen == " Yes." + processor.tokenizer.eos_token  # conv_vicuna_v1's answer turn


def test_a_protocol_presents_the_checkpoints_of_the_families_it_applies_to():
    """LLaVA-1.5's conversation and padding apply to LLaVA checkpoints; InstructBLIP keeps its own
    presentation under every protocol, and so does a checkpoint of no registered family."""
    llava, lmms_eval = protocols.get_protocol("llava"), protocols.get_protocol("lmms-eval")
    assert llava.chat_template("llava") == protocols.VICUNA_V1_TEMPLATE and llava.pads_to_square("llava")
    for model_type in ("instructblip", "qwen2_vl", None):
        assert llava.chat_template(model_type) is None and not llava.pads_to_square(model_type)
    for model_type in ("llava", "instructblip"):
        assert lmms_eval.chat_template(model_type) is None and not lmms_eval.pads_to_square(model_type)
