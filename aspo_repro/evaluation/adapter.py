"""``aspo_hf``: the project's lmms-eval model adapter for local image-text checkpoints.

lmms-eval 0.7.3's own adapters do not fit the mini profile: ``llava_hf`` imports ``decord``
(a video reader, not installed here) and both it and ``instructblip`` generate one prompt at a
time. This adapter loads any checkpoint directory that ``AutoProcessor`` and
``AutoModelForImageTextToText`` load (the mini world's LLaVA and InstructBLIP, or a merged
checkpoint after training), renders prompts with the checkpoint's own chat template, and
generates in left-padded batches. It is registered with lmms-eval's model registry as
``aspo_hf``, so ``simple_evaluate(model="aspo_hf", model_args="pretrained=DIR")`` works too.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from lmms_eval.api.model import lmms
from tqdm import tqdm

from aspo_repro.errors import UserError

MODEL_ID = "aspo_hf"
DEFAULT_MAX_NEW_TOKENS = 128


def load_checkpoint(path: str | Path, device: str = "cpu", dtype: str = "float32"):
    """(model, processor) from a checkpoint directory, or a UserError saying why not."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    path = Path(path)
    if not (path / "config.json").is_file():
        raise UserError(f"{path} is not a model directory: it has no config.json "
                        "(expected a checkpoint saved with save_pretrained)")
    try:
        processor = AutoProcessor.from_pretrained(path)
        model = AutoModelForImageTextToText.from_pretrained(path, dtype=getattr(torch, dtype))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, json.JSONDecodeError) as error:
        raise UserError(f"cannot load the model in {path}: {type(error).__name__}: {error}") from None
    if not hasattr(processor, "tokenizer"):
        raise UserError(f"the processor in {path} has no tokenizer; expected an image-text processor")
    return model.to(device).eval(), processor


def chat_template_of(processor) -> str:
    template = getattr(processor, "chat_template", None) or processor.tokenizer.chat_template
    if not template:
        raise UserError("the checkpoint's processor and tokenizer have no chat template")
    return template


def render_prompt(processor, text: str, with_image: bool, answer: str | None = None) -> str:
    """The user turn (image first, then the text) in the checkpoint's chat format, ready for
    the assistant's answer (or followed by ``answer``). A question about an image is asked as
    training and SeVa's answers ask it (``models.prompting.chat_prompt``: the instruction alone
    where the checkpoint has no chat template, as InstructBLIP's hub checkpoints)."""
    from aspo_repro.models.prompting import chat_prompt

    if with_image and answer is None:
        return chat_prompt(processor, text)
    content = ([{"type": "image"}] if with_image else []) + [{"type": "text", "text": text}]
    messages = [{"role": "user", "content": content}]
    if answer is not None:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    return processor.tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=answer is None, chat_template=chat_template_of(processor))


def cut_at_stops(text: str, stops: Sequence[str]) -> str:
    for stop in stops:
        if stop:
            text = text.split(stop)[0]
    return text.strip()


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run with ``count`` CPU threads. The mini models' matrices are so small that one thread
    is as fast as two on an idle machine, and many times faster on a shared one, where OpenMP
    threads stall waiting for each other (measured: 0.06 s vs 2-4 s per batch of 16 answers)."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class AspoHf(lmms):
    """Batched greedy (or sampled) generation with a local image-text checkpoint."""

    def __init__(self, pretrained: str, device: str = "cpu", batch_size: int | str = 32,
                 dtype: str = "float32", threads: int | str = 1, **kwargs: Any) -> None:
        super().__init__()
        if kwargs:
            raise UserError(f"unknown aspo_hf model argument(s): {', '.join(sorted(kwargs))}")
        self._device = torch.device(device)
        self.model, self.processor = load_checkpoint(pretrained, device, dtype)
        self.tokenizer = self.processor.tokenizer
        for name in ("tokenizer", "qformer_tokenizer"):  # batched generation pads on the left
            if getattr(self.processor, name, None) is not None:
                getattr(self.processor, name).padding_side = "left"
        self.batch_size_per_gpu = max(1, int(batch_size))
        self.threads = max(1, int(threads))
        self.pretrained = str(pretrained)

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def batch_size(self) -> int:
        return self.batch_size_per_gpu

    def clean(self) -> None:
        # lmms-eval frees the model after each evaluation (to make room for a local judge);
        # the runner evaluates several benchmarks with one model and no local judge.
        gc.collect()

    def _visuals(self, request_args) -> list:
        _, _, doc_to_visual, doc_id, task, split = request_args
        return list(doc_to_visual(self.task_dict[task][split][doc_id]) or [])

    def _inputs(self, prompts: list[str], images: list) -> dict[str, torch.Tensor]:
        kwargs = {"images": images} if images else {}
        inputs = self.processor(text=prompts, padding=True, return_tensors="pt", **kwargs)
        return {k: v.to(self._device) if hasattr(v, "to") else v for k, v in inputs.items()}

    def generate_until(self, requests) -> list[str]:
        with torch_threads(self.threads):
            return self._generate_all([request.args for request in requests])

    def _generate_all(self, args) -> list[str]:
        outputs: list[str] = [""] * len(args)
        order = sorted(range(len(args)), key=lambda i: (repr(sorted(args[i][1].items())), -len(args[i][0])))
        progress = tqdm(total=len(args), desc="aspo_hf generating", unit="answer")
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            for index, text in zip(batch, self._generate_batch([args[i] for i in batch])):
                outputs[index] = text
            progress.update(len(batch))
        progress.close()
        return outputs

    def _generate_batch(self, batch_args) -> list[str]:
        gen_kwargs = dict(batch_args[0][1])
        visuals = [self._visuals(a) for a in batch_args]
        if any(len(v) > 1 for v in visuals):
            raise UserError("aspo_hf answers with one image per question; a document gave several")
        with_image = bool(visuals[0])
        if any(bool(v) != with_image for v in visuals):
            raise UserError("aspo_hf answers a task's questions all with an image or all without; this task mixes them")
        prompts = [render_prompt(self.processor, a[0], with_image) for a in batch_args]
        inputs = self._inputs(prompts, [v[0] for v in visuals] if with_image else [])
        do_sample = bool(gen_kwargs.get("do_sample")) and float(gen_kwargs.get("temperature") or 0) > 0
        sampling = {"temperature": float(gen_kwargs["temperature"]), "top_p": gen_kwargs.get("top_p")} if do_sample else {}
        with torch.inference_mode():
            generated = self.model.generate(
                **inputs, do_sample=do_sample, num_beams=int(gen_kwargs.get("num_beams") or 1),
                max_new_tokens=int(gen_kwargs.get("max_new_tokens") or DEFAULT_MAX_NEW_TOKENS),
                pad_token_id=self.tokenizer.pad_token_id, eos_token_id=self.tokenizer.eos_token_id, **sampling,
            )
        new_tokens = generated[:, inputs["input_ids"].shape[1]:]
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        stops = gen_kwargs.get("until") or []
        return [cut_at_stops(text, [stops] if isinstance(stops, str) else stops) for text in texts]

    def loglikelihood(self, requests) -> list[tuple[float, bool]]:
        with torch_threads(self.threads):
            return self._loglikelihood_all(requests)

    def _loglikelihood_all(self, requests) -> list[tuple[float, bool]]:
        results = []
        for request in tqdm(requests, desc="aspo_hf log-likelihood"):
            context, continuation, doc_to_visual, doc_id, task, split = request.args
            if not isinstance(continuation, str):
                continuation = continuation(self.task_dict[task][split][doc_id])
            results.append(self._continuation_logprob(context, continuation,
                                                      self._visuals((None, None, doc_to_visual, doc_id, task, split))))
        return results

    def _continuation_logprob(self, context: str, continuation: str, visuals: list) -> tuple[float, bool]:
        prompt = render_prompt(self.processor, context, bool(visuals))
        full = render_prompt(self.processor, context, bool(visuals), answer=continuation)
        prompt_len = self._inputs([prompt], visuals[:1])["input_ids"].shape[1]
        inputs = self._inputs([full], visuals[:1])
        with torch.inference_mode():
            logits = self.model(**inputs).logits[0, :-1]
        targets = inputs["input_ids"][0, 1:]
        logprobs = torch.log_softmax(logits.float(), dim=-1)[prompt_len - 1:]
        targets = targets[prompt_len - 1:]
        total = logprobs.gather(1, targets[:, None]).sum().item()
        greedy = bool((logprobs.argmax(-1) == targets).all())
        return total, greedy

    def generate_until_multi_round(self, requests) -> list[str]:
        raise UserError("aspo_hf does not hold multi-round conversations; no project task asks for them")


def register() -> None:
    """Make ``aspo_hf`` known to lmms-eval's model registry (idempotent)."""
    from lmms_eval.models import MODEL_REGISTRY_V2
    from lmms_eval.models.registry_v2 import ModelManifest

    MODEL_REGISTRY_V2.register_manifest(
        ModelManifest(model_id=MODEL_ID, simple_class_path=f"{__name__}.AspoHf"), overwrite=True)
