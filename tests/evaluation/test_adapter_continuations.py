"""Every lmms-eval adapter the project evaluates with returns the model's own continuation, for the
prompt the model is trained with.

The adapters the paper profile picks (each family's ``lmms_adapter``: ``llava_hf``,
``instructblip_new_tokens``) and the project's ``aspo_hf`` answer lmms-eval requests of each kind of
task (a short answer with lmms-eval's ``until``, a multiple choice, a long description, beam search
as SHR uses) on the rehearsal's stand-ins of LLaVA-1.5 and InstructBLIP (random weights: what is
checked is equality, not quality). Each answer must equal what ``model.generate`` itself continues
the same prompt and image with under the same decoding, new tokens only, decoded with
``skip_special_tokens`` and stripped. The prompt an adapter hands its processor is captured and
compared, in tokens, with the prompt training builds from the checkpoint (``PairFormatter``, which
holds ``chat_prompt``'s). lmms-eval's stock ``instructblip`` returns the prompt in front of the
answer (docs/upstream/lmms-eval-instructblip.md). Under the ``llava`` protocol LLaVA is prompted in
vicuna_v1's conversation, in evaluation as in preference generation and training under that protocol.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest
import torch
from lmms_eval.api.instance import Instance
from PIL import Image

from aspo_repro.evaluation import instructblip_adapter
from aspo_repro.evaluation.adapter import cut_at_stops
from aspo_repro.evaluation.lmms_model import build_model, default_adapter, loaded_dtype
from aspo_repro.evaluation.protocols import DEFAULT_PROTOCOL, get_protocol
from aspo_repro.evaluation.settings import EvalSettings
from aspo_repro.models.prompting import chat_prompt
from aspo_repro.rehearsal import checkpoints
from aspo_repro.training.formatting import PairFormatter

TINY = checkpoints.Shrink(layers=1, text_hidden=32, text_heads=2, text_intermediate=64, vision_hidden=16,
                          vision_heads=2, vision_intermediate=32, qformer_hidden=16, qformer_heads=2,
                          qformer_intermediate=32, vocab_size=300)
MODELS = {"llava": "llava-1.5-7b", "instructblip": "instructblip-13b"}
SHORT = "Is there a red car in the image?\nAnswer the question using a single word or phrase."
CHOICE = ("What colour is the car?\nA. red\nB. blue\nC. green\nD. white\n"
          "Answer with the option's letter from the given choices directly.")
DESCRIBE = "Describe this image in detail."
CORPUS = [SHORT, CHOICE, DESCRIBE, "There is a red car parked next to a building. A man walks his dog on the street.",
          "Yes. No. yes no A B C D E. The answer is"]


@dataclass(frozen=True)
class Request:
    kind: str
    context: str
    gen_kwargs: dict


REQUESTS = (
    Request("short answer", SHORT, {"until": ["\n\n"], "max_new_tokens": 6, "temperature": 0, "top_p": 1.0,
                                    "num_beams": 1, "do_sample": False}),
    Request("multiple choice", CHOICE, {"until": ["\n\n"], "max_new_tokens": 8, "temperature": 0, "num_beams": 1,
                                        "do_sample": False}),
    Request("long description", DESCRIBE, {"until": ["\n\n"], "max_new_tokens": 40, "temperature": 0,
                                           "num_beams": 1, "do_sample": False}),
    Request("beam search", DESCRIBE, {"until": ["\n\n"], "max_new_tokens": 24, "temperature": 0, "num_beams": 3,
                                      "do_sample": False}),
)
IMAGES = [Image.new("RGB", (64, 48), (200, 30, 30)), Image.new("RGB", (40, 60), (20, 90, 200)),
          Image.new("RGB", (50, 50), (240, 240, 240)), Image.new("RGB", (64, 64), (10, 160, 40))]
TASK, SPLIT = "adapter_check", "test"


@pytest.fixture(scope="module")
def standins(tmp_path_factory):
    """{family: snapshot directory} of the rehearsal's stand-ins of the paper checkpoints."""
    hub = tmp_path_factory.mktemp("hub")
    written = checkpoints.write_standins(hub, list(MODELS.values()), CORPUS, TINY, log=lambda *_: None)
    return {family: written[model] for family, model in MODELS.items()}


class RecordingProcessor:
    """A processor that records the prompts and images it is called with."""

    def __init__(self, processor) -> None:
        self.wrapped = processor
        self.calls: list[tuple[list[str], list]] = []

    def __call__(self, *args, **kwargs):
        text, images = kwargs.get("text"), kwargs.get("images")
        self.calls.append(([text] if isinstance(text, str) else list(text), list(images or [])))
        return self.wrapped(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.wrapped, name)


def load_adapter(name: str, model_dir, protocol: str = DEFAULT_PROTOCOL):
    """The lmms-eval model object the runner builds for ``name`` (as the paper profile does, under
    ``protocol``), its processor recording."""
    settings = EvalSettings(model_dir=model_dir, benchmarks="paper", batch_size=1, device="cpu", protocol=protocol)
    adapter = build_model(settings, name)
    attribute = "processor" if hasattr(adapter, "processor") else "_image_processor"
    recorder = RecordingProcessor(getattr(adapter, attribute))
    setattr(adapter, attribute, recorder)
    return adapter, recorder


def answer(adapter, requests=REQUESTS) -> list[str]:
    """The adapter's answers to ``requests``, asked as lmms-eval asks them (one call, every request;
    a chat adapter gets the user turn lmms-eval builds from the document's image and text)."""
    from lmms_eval.api.instance import unwrap_generation_output
    from lmms_eval.api.task import ConfigurableMessagesTask

    adapter.task_dict = {TASK: {SPLIT: [{"question": r.context} for r in requests]}}
    instances = []
    for i, request in enumerate(requests):
        gen_kwargs = copy.deepcopy(request.gen_kwargs)
        if adapter.is_simple:
            args = (request.context, gen_kwargs, lambda doc, i=i: [IMAGES[i]], i, TASK, SPLIT)
        else:
            def messages(doc, i=i, text=request.context):
                return ConfigurableMessagesTask._build_user_turn([IMAGES[i]], text)

            args = (request.context, messages, gen_kwargs, i, TASK, SPLIT)
        instances.append(Instance("generate_until", args, i, {"task": TASK, "doc_id": i, "repeats": 1}))
    return [unwrap_generation_output(output)[0] for output in adapter.generate_until(instances)]


@pytest.fixture(scope="module")
def networks(standins):
    """{family: the checkpoint loaded afresh}, apart from any adapter's copy of it."""
    from transformers import AutoModelForImageTextToText

    return {family: AutoModelForImageTextToText.from_pretrained(path).eval() for family, path in standins.items()}


def own_continuation(network, processor, prompt: str, image, gen_kwargs: dict) -> str:
    """What the model itself continues ``prompt`` and ``image`` with (through ``processor``, the
    adapter's): new tokens only, decoded without special tokens, cut at lmms-eval's ``until``
    strings, stripped."""
    tokenizer = processor.tokenizer
    inputs = processor(images=[image], text=[prompt], return_tensors="pt")
    with torch.inference_mode():
        sequences = network.generate(
            **inputs, do_sample=False, num_beams=gen_kwargs["num_beams"], max_new_tokens=gen_kwargs["max_new_tokens"],
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    new_tokens = sequences[:, inputs["input_ids"].shape[-1]:]
    return cut_at_stops(tokenizer.batch_decode(new_tokens, skip_special_tokens=True)[0], gen_kwargs["until"])


def sent_prompts(recorder) -> list[str]:
    """The prompt of each generation call, in the order the adapter made them."""
    return [texts[0] for texts, images in recorder.calls if images]


def training_prompt_ids(model_dir, family: str, question: str, protocol: str | None = None) -> list[int]:
    """The prompt training builds for ``question`` from the checkpoint's processor, set up as training
    sets it up under ``protocol`` (``models.loading.load_model_and_processor``), in tokens."""
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(model_dir)
    if protocol is not None:
        get_protocol(protocol).prepare_processor(processor, family)
    prompt = PairFormatter.for_processor(processor, family).format(question, "a", "b").prompt
    assert chat_prompt(processor, question) in prompt  # SeVa's answers are asked for with the same prompt
    return processor.tokenizer(prompt, add_special_tokens=False).input_ids


def check_continuations(adapter, recorder, network) -> None:
    answers = answer(adapter)
    calls = [(texts[0], images[0]) for texts, images in recorder.calls if images]
    assert len(calls) == len(REQUESTS)
    prompt_of = {next(i for i, image in enumerate(IMAGES) if image is sent): prompt for prompt, sent in calls}
    for index, (request, text) in enumerate(zip(REQUESTS, answers)):
        expected = own_continuation(network, recorder.wrapped, prompt_of[index], IMAGES[index], request.gen_kwargs)
        assert text == expected, f"{request.kind}: {text!r} is not the model's continuation {expected!r}"
    assert any(answers), "every answer is empty: the check would hold for any adapter"


ADAPTERS = [("llava", "llava_hf"), ("instructblip", instructblip_adapter.MODEL_ID),
            ("llava", "aspo_hf"), ("instructblip", "aspo_hf")]


@pytest.mark.slow
@pytest.mark.parametrize(("family", "name"), ADAPTERS)
def test_the_adapter_answers_with_the_models_own_continuation(standins, networks, family, name):
    adapter, recorder = load_adapter(name, standins[family])
    check_continuations(adapter, recorder, networks[family])


@pytest.mark.parametrize(("family", "name", "cuts"), [("llava", "llava_hf", False),
                                                     ("instructblip", instructblip_adapter.MODEL_ID, False),
                                                     ("llava", "aspo_hf", True)])
def test_where_an_adapter_ends_an_answer_at_until(standins, family, name, cuts):
    """lmms-eval's llava_hf and instructblip end an answer at EOS or max_new_tokens only: they drop
    a task's ``until`` (kept as lmms-eval's behaviour; the checks above hold because no continuation
    there reaches the blank line, lmms-eval's default ``until``). ``aspo_hf`` cuts at it."""
    describe = Request("long description", DESCRIBE, {**REQUESTS[2].gen_kwargs, "max_new_tokens": 16})
    [whole] = answer(load_adapter(name, standins[family])[0], [describe])
    stop = whole[len(whole) // 2:len(whole) // 2 + 2]
    assert stop.strip(), f"no stop string to pick in {whole!r}"
    stopped = Request("long description, stopped", DESCRIBE, {**describe.gen_kwargs, "until": [stop]})
    [text] = answer(load_adapter(name, standins[family])[0], [stopped])
    assert text == (cut_at_stops(whole, [stop]) if cuts else whole)


def test_the_paper_profile_evaluates_with_the_checked_adapters(standins):
    assert default_adapter(standins["llava"], "paper") == "llava_hf"
    assert default_adapter(standins["instructblip"], "paper") == instructblip_adapter.MODEL_ID


def sent_prompt(name: str, model_dir, protocol: str = DEFAULT_PROTOCOL) -> str:
    adapter, recorder = load_adapter(name, model_dir, protocol)
    answer(adapter, REQUESTS[:1])
    [prompt] = sent_prompts(recorder)
    return prompt


def sent_prompt_ids(name: str, model_dir, protocol: str = DEFAULT_PROTOCOL) -> list[int]:
    """The prompt ``name`` sends for ``SHORT``, tokenised as its processor tokenises it (BOS added)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)(sent_prompt(name, model_dir, protocol)).input_ids


@pytest.mark.parametrize(("family", "name", "protocol"), [
    ("instructblip", instructblip_adapter.MODEL_ID, "llava"), ("instructblip", instructblip_adapter.MODEL_ID, "lmms-eval"),
    ("llava", "llava_hf", "lmms-eval"), ("llava", "aspo_hf", "llava"), ("instructblip", "aspo_hf", "llava")])
def test_the_adapter_prompts_as_training_does(standins, family, name, protocol):
    trained_under = None if name == "aspo_hf" else protocol  # the project's adapter asks as the mini world trains
    expected = training_prompt_ids(standins[family], family, SHORT, trained_under)
    assert sent_prompt_ids(name, standins[family], protocol) == expected


LLAVA_TRAINING_PROMPT = "USER: <image>\n" + SHORT + " ASSISTANT:"
VICUNA_V1_PROMPT = ("A chat between a curious user and an artificial intelligence assistant. The assistant gives "
                    "helpful, detailed, and polite answers to the user's questions. " + LLAVA_TRAINING_PROMPT)


def test_llava_hf_under_the_llava_protocol_prompts_as_training_under_it_does(standins):
    """vicuna_v1's conversation (system prompt first) in evaluation, preference generation and training alike."""
    expected = training_prompt_ids(standins["llava"], "llava", SHORT, "llava")
    assert sent_prompt_ids("llava_hf", standins["llava"], "llava") == expected


def test_the_llava_protocol_and_training_prompt_llava_as_these_strings(standins):
    """The llava protocol's prompt, exactly, and the checkpoint's own template's (llava-hf's, which the
    lmms-eval protocol and a model trained without a protocol use)."""
    from transformers import AutoProcessor

    assert sent_prompt("llava_hf", standins["llava"], "llava") == VICUNA_V1_PROMPT
    assert chat_prompt(AutoProcessor.from_pretrained(standins["llava"]), SHORT) == LLAVA_TRAINING_PROMPT


def test_the_paper_profile_evaluates_llava_with_lmms_evals_chat_adapter(standins):
    """lmms-eval resolves ``llava_hf`` to its chat implementation (the one checked above), which
    renders the processor's chat template with typed parts. Its simple implementation renders a
    string through the tokenizer's template, and llava-hf's template reads typed parts only: the
    stand-in's prompt comes out as "USER: ASSISTANT:" (docs/upstream/lmms-eval-instructblip.md, "Related")."""
    adapter, _ = load_adapter("llava_hf", standins["llava"], "lmms-eval")
    assert adapter.is_simple is False


def test_lmms_evals_own_instructblip_returns_the_prompt_before_the_answer(standins, networks):
    """The upstream defect the project's adapter fixes (docs/upstream/lmms-eval-instructblip.md). If
    this fails, lmms-eval (or transformers) has changed: check whether the stock adapter is now right."""
    adapter, recorder = load_adapter("instructblip", standins["instructblip"])
    [text] = answer(adapter, REQUESTS[:1])
    [prompt] = sent_prompts(recorder)
    expected = own_continuation(networks["instructblip"], recorder.wrapped, prompt, IMAGES[0], REQUESTS[0].gen_kwargs)
    assert prompt == SHORT
    assert text.startswith(SHORT) and text != expected


def test_only_a_leading_prompt_is_cut():
    prompt = torch.tensor([[5, 6, 7]])
    assert instructblip_adapter.without_prompt(torch.tensor([[5, 6, 7, 9, 2]]), prompt).tolist() == [[9, 2]]
    assert instructblip_adapter.without_prompt(torch.tensor([[9, 2]]), prompt).tolist() == [[9, 2]]
    assert instructblip_adapter.without_prompt(torch.tensor([[5, 6, 8, 9]]), prompt).tolist() == [[5, 6, 8, 9]]
    beams = torch.tensor([[5, 6, 7, 1], [5, 6, 7, 2]])  # num_return_sequences=2
    assert instructblip_adapter.without_prompt(beams, prompt).tolist() == [[1], [2]]


@pytest.mark.parametrize("family,name", ADAPTERS)
def test_the_adapter_loads_the_weights_in_the_precision_asked(standins, family, name):
    """``evaluate.dtype: fp16`` (the paper profile's): every adapter's network holds the weights
    ``from_pretrained(dtype=float16)`` gives (fp16 but for the modules transformers keeps in fp32,
    InstructBLIP's Q-Former), where lmms-eval's own ``instructblip`` ignores its ``dtype`` and loads
    the snapshot's fp32."""
    from transformers import AutoModelForImageTextToText

    settings = EvalSettings(model_dir=standins[family], benchmarks="paper", batch_size=1, device="cpu", dtype="fp16")
    adapter = build_model(settings, name)
    network = adapter.model
    assert loaded_dtype(adapter) == "float16"  # what eval.json records (InstructBLIP's query tokens stay fp32)
    expected = AutoModelForImageTextToText.from_pretrained(standins[family], dtype=torch.float16)
    assert {key: value.dtype for key, value in network.state_dict().items()} == \
        {key: value.dtype for key, value in expected.state_dict().items()}
    assert network.get_output_embeddings().weight.dtype == torch.float16
