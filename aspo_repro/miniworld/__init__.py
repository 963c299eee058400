"""The mini world: a synthetic visual world with exact ground truth, its data, base models and CLIP.

Every stage of the paper runs on it for real, on the code paths of the real models
(``docs/miniworld.md``). Interfaces other modules build on:

``build_world(seed=0, cache_dir=None, size="full", progress=True, beside=()) -> World``
    Generate the data and train the three base models and the CLIPs, or reuse them from the
    cache (``$ASPO_CACHE_DIR`` or ``<repository>/.cache/aspo``), keyed by a content hash of the
    configuration, seed and code version; damaged or partial entries are rebuilt (``build.py``).
    ``size="tiny"`` is the same pipeline at a few items and SFT steps, for tests. ``beside``: jobs
    made from the world but kept outside it (ASPO-S's scorers, graded base models), run beside its stages.

ASPO-S's scorers, open_clip ``local-dir`` checkpoints (``ClipScorer.from_dir``), made from a built world on
first use and kept beside it: the caption scorer that scores mini data (``caption_clip.py``) and the
judge-trained scorer (``judge_trained.py``); ``aspo_choices.WORLD_SCORERS`` names both.

``obtain_world(...)``: ``build_world`` for commands, saying first when a build is needed and how long it takes.

``World``
    ``root``, ``seed``, ``size``, ``config``; ``model_dir(name)`` for ``mini-llava-s``,
    ``mini-llava-m`` and ``mini-instructblip`` (complete HF checkpoints: ``AutoProcessor`` /
    ``AutoModelForImageTextToText.from_pretrained(dir)`` load them offline); ``instructions_json`` and
    ``image_dir`` (the preference-instruction pool); ``sft_json``; ``benchmark_dir``;
    ``scenes(split)`` with split ``sft``, ``pool`` or ``bench``.

Instruction data (``sft.json``, ``instructions.json``)
    LLaVA-Instruct-150K format: a JSON list of ``{"id", "image": <file in image_dir>,
    "conversations": [{"from": "human", "value": "<image>\\n..."}, {"from": "gpt", "value": ...}]}``.
    An item's scene is the image's stem (``pool-00012.png`` -> scene ``pool-00012``).

Benchmarks (``benchmark_dir``, ``image`` paths relative to it), one JSONL each
    ``mini_pope.jsonl``  ``{"id", "image", "question", "answer": "yes"|"no", "split": "random"|"popular"|"adversarial"}``
    ``mini_shr.jsonl``   ``{"id", "image", "question", "scene": <Scene.to_dict()>}``
    ``mini_gqa.jsonl``   ``{"id", "image", "question", "answer", "type": "colour"|"count"|"position"}``
    ``mini_mmb.jsonl``   ``{"id", "image", "question", "options": [4 strings], "answer": <index>}``
    Questions are stored without suffixes: ask POPE and GQA questions through
    ``questions.short_prompt`` and MMB questions through ``questions.multiple_choice_prompt``,
    as the models were trained; SHR's question is asked as it is.

Ground truth and judging
    ``scene.Scene`` (``from_dict`` / ``to_dict``); ``judge.judge_sentence(sentence, scene)``
    -> True (hallucinated), False (correct), None (not a sentence of the world's grammar);
    ``judge.judge_description(text, scene)`` -> per-sentence verdicts (pysbd sentences, ASPO's
    units); ``judge.parse_yes_no``, ``judge.parse_option`` (a letter or the option's text), ``judge.normalise_short_answer``.
"""

import importlib

_EXPORTS = {
    "World": "build", "build_world": "build", "locate_world": "build", "obtain_world": "obtain",
    "judge_description": "judge", "judge_sentence": "judge",
    "Scene": "scene", "WorldObject": "scene",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    # Imported on first use, so that submodules (lexicon, scene) load without the build machinery.
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"aspo_repro.miniworld.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'aspo_repro.miniworld' has no attribute {name!r}")
