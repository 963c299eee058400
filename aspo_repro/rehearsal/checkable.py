"""The checkable rehearsal: the paper profile's evaluation path on models that answer, every score
checked against the project's own exact evaluation of the same models on the same questions.

The paper rehearsal's stand-ins have random weights, so any text passes. Here the paper path
(``runner.evaluate`` with the paper benchmarks, lmms-eval's own adapters, each family's
``lmms_adapter``, and its own task code, SHR through the project's judge client) runs on the
mini world's base models, saved as the paper checkpoints' hub snapshots and resolved as the paper
profile resolves them (``models.loading.HubCache``), on hub datasets written from the mini world's
questions (``mini_datasets``), with a judge server answering by the mini world's exact rules
(``exact_judge``). The project's own evaluation (``aspo_hf`` on the mini benchmarks) answers the
same questions; ``agreement`` pairs the two per question.

MM-Vet and LLaVA-W are left out (open answers, graded by GPT: no exact answer to compare with),
and so is MMB-test (its answers are the MMBench server's).

    python -m aspo_repro.rehearsal.checkable DIR      # or .ci/check_paper_answers.py DIR

writes ``DIR/agreement.json`` and ``DIR/agreement.md``, and exits 1 when a check of
:data:`CHECKS` fails. Everything under DIR is reused when unchanged (snapshots, datasets, and each
benchmark's raw lmms-eval output), so a second run only compares.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aspo_repro import storage
from aspo_repro.rehearsal import agreement as ag

QUESTIONS = 32  # per mini benchmark (mini-POPE: per split): the first ones of each file
# The paper path's protocol (evaluation/protocols.py). lmms-eval's prompts each checkpoint in its own
# chat template, as the mini models were trained; LLaVA-1.5's (the paper profile's default) adds the
# vicuna_v1 system prompt, whose words are outside the mini world's closed vocabulary, and the mini
# LLaVAs then answer nearly every question with one phrase, leaving little to compare (docs/checkable-rehearsal.md).
PROTOCOL = "lmms-eval"
# A cap on the paper path's answers: mini-SHR's own length (tasks/mini_shr). SHR's 512 (HA-DPO's) only
# lets a model prompted off its training ramble on for minutes (InstructBLIP: about 10 s a description).
MAX_NEW_TOKENS = 128
PAPER_BENCHMARKS = ("pope", "gqa", "sqa_img", "seed_image", "mmbench_dev", "mmbench_cn", "shr")
LEFT_OUT = {
    "mmvet": "open answers graded by GPT: no exact answer",
    "llava_wild": "open answers graded by GPT against GPT-4's: no exact answer",
    "mmbench_test": "answers withheld: scored by the MMBench server",
}
PAIRINGS = {
    "pope": ag.Pairing("pope", "mini_pope", ag.paper_pope, ag.mini_pope),
    "gqa": ag.Pairing("gqa", "mini_gqa", ag.paper_gqa, ag.mini_gqa),
    "sqa_img": ag.Pairing("sqa_img", "mini_mmb", ag.paper_sqa, ag.mini_mmb_first_rotation, ids="mmb"),
    "seed_image": ag.Pairing("seed_image", "mini_mmb", ag.paper_seed, ag.mini_mmb_first_rotation),
    "mmbench_dev": ag.Pairing("mmbench_dev", "mini_mmb", ag.paper_mmbench, ag.mini_mmb),
    "mmbench_cn": ag.Pairing("mmbench_cn", "mini_mmb", ag.paper_mmbench, ag.mini_mmb),
    "shr": ag.Pairing("shr", "mini_shr", ag.paper_shr, ag.mini_shr, ids="shr"),
}


@dataclass(frozen=True)
class Check:
    """What a benchmark must reach, and why that much."""

    # Of the questions both paths got the same response to: the share whose extracted answers are
    # identical or differ by one of the rule differences ``agreement`` names (%). A disagreement on
    # the same response that no named rule explains is a defect of one path.
    explained_where_same_response: float
    reason: str
    # identical responses where the paper path asks exactly what the mini path asks (%; None: it never does)
    same_response_when_asked_alike: float | None = None


# The paper path asks a question exactly as the mini path does when lmms-eval's adapter renders the
# checkpoint's own chat template (llava_hf does; lmms-eval's instructblip sends the bare instruction)
# and the protocol keeps that template, and the task's prompt is the mini world's (POPE, GQA).
OWN_TEMPLATE_ADAPTERS = ("llava_hf",)
SAME_PROMPT = ("same prompt, chat template, image and greedy decoding: the paths differ only in batching "
               "(aspo_hf left-pads 32 answers, llava_hf answers one at a time), whose float rounding may flip "
               "a near-tie token (measured: 100%)")


SAME_RULE = ("on the same response both paths read the same answer, except where a named rule difference "
             "says otherwise (agreement.py); the exact judge stands in for GPT where lmms-eval asks it")
CHECKS = {
    "pope": Check(100.0, SAME_RULE + "; " + SAME_PROMPT, same_response_when_asked_alike=95.0),
    "gqa": Check(100.0, SAME_RULE + "; " + SAME_PROMPT, same_response_when_asked_alike=95.0),
    "mmbench_dev": Check(100.0, SAME_RULE),
    "mmbench_cn": Check(100.0, SAME_RULE),
    "shr": Check(100.0, "the judge server applies the rule judge to each sentence of HA-DPO's split; it equals "
                        "the mini path's verdicts unless the two splits cut the response differently"),
    "sqa_img": Check(100.0, "vacuous: lmms-eval reads only an option letter and the mini models answer with the "
                            "option itself (they never learnt letters, miniworld/lexicon.py), so every "
                            "disagreement is the named letter rule"),
    "seed_image": Check(100.0, "vacuous, as for SQA-I: lmms-eval reads the response's first character"),
}


@dataclass(frozen=True)
class CheckSettings:
    out: Path
    questions: int = QUESTIONS
    models: tuple[str, ...] = ("mini-llava-s", "mini-llava-m", "mini-instructblip")
    seed: int = 0
    cache_dir: Path | None = None
    protocol: str = PROTOCOL  # the paper path's evaluation protocol
    world_size: str = "full"  # "tiny": a world built in seconds, whose models answer little (for trying the code)
    device: str = "cpu"
    log: Any = field(default=print, compare=False)

    def __post_init__(self) -> None:
        from aspo_repro.errors import UserError
        from aspo_repro.evaluation.protocols import get_protocol
        from aspo_repro.models import model_names

        if self.questions < 1:
            raise UserError(f"questions must be a positive number per benchmark; got {self.questions}")
        known = model_names("mini")
        unknown = [m for m in self.models if m not in known]
        if unknown or not self.models:
            raise UserError(f"the checkable rehearsal evaluates mini models (each as the paper model it stands for); "
                            f"got {', '.join(unknown) or 'none'}; known: {', '.join(known)}")
        get_protocol(self.protocol)


# ----------------------------------------------------------------------------- inputs

def paper_analogue(mini_model: str) -> str:
    from aspo_repro.models import get_model_spec

    return get_model_spec(mini_model).analogue_of


def write_snapshot(hub_cache: Path, mini_model: str, source: Path) -> Path:
    """The mini model as the hub snapshot of the paper checkpoint it stands for; the directory
    the paper profile resolves for that checkpoint (``HubCache.model_dir``)."""
    from aspo_repro.models import get_model_spec
    from aspo_repro.models.loading import HubCache
    from aspo_repro.rehearsal.checkpoints import write_hub_snapshot

    paper = paper_analogue(mini_model)
    identity = {"mini_model": mini_model, "files": storage.sha256_tree(source)}
    write_hub_snapshot(hub_cache, get_model_spec(paper).source,
                       lambda staging: shutil.copytree(source, staging, dirs_exist_ok=True), identity)
    return HubCache(hub_cache).model_dir(paper)


@dataclass(frozen=True)
class Inputs:
    benchmark_dir: Path  # the subset of the mini benchmarks both paths ask
    dataset_dir: Path  # the paper benchmarks' hub datasets, from the same questions
    shr_data: Path
    snapshots: dict[str, Path]  # mini model: its paper-checkpoint snapshot


def prepare(settings: CheckSettings, world) -> Inputs:
    from aspo_repro.rehearsal.mini_datasets import (
        MiniQuestions,
        write_mini_datasets,
        write_shr_documents,
        write_subset,
    )

    out = settings.out
    bench = write_subset(world.benchmark_dir, out / "inputs" / "benchmarks", settings.questions)
    questions = MiniQuestions.load(bench)
    write_mini_datasets(out / "inputs" / "datasets", questions)
    shr = write_shr_documents(out / "inputs" / "shr" / "shr_docs.jsonl", questions)
    snapshots = {m: write_snapshot(out / "inputs" / "hub", m, world.model_dir(m)) for m in settings.models}
    return Inputs(bench, out / "inputs" / "datasets", shr, snapshots)


# ----------------------------------------------------------------------------- evaluations

def paper_settings(settings: CheckSettings, inputs: Inputs, mini_model: str):
    from aspo_repro.evaluation.settings import EvalSettings
    from aspo_repro.results import RunKey

    return EvalSettings(
        model_dir=inputs.snapshots[mini_model], out=settings.out / "results" / mini_model / "paper.json",
        run=RunKey("paper", paper_analogue(mini_model), "base", 0), benchmarks=",".join(PAPER_BENCHMARKS),
        batch_size=1, device=settings.device, dataset_dir=inputs.dataset_dir, shr_data=inputs.shr_data,
        protocol=settings.protocol, max_new_tokens=MAX_NEW_TOKENS)


def own_settings(settings: CheckSettings, inputs: Inputs, mini_model: str, world):
    from aspo_repro.evaluation.settings import EvalSettings
    from aspo_repro.results import RunKey

    return EvalSettings(
        model_dir=world.model_dir(mini_model), out=settings.out / "results" / mini_model / "own.json",
        run=RunKey("mini", mini_model, "base", 0), benchmarks="mini", benchmark_dir=inputs.benchmark_dir,
        device=settings.device)


_EXACT_SERVER = None


def exact_judge_server(log=print):
    """One judge server for the process answering by the mini world's rules, its address in the
    environment (lmms-eval's MMBench reads it when first imported, so before any evaluation)."""
    global _EXACT_SERVER
    if _EXACT_SERVER is None:
        import atexit

        from aspo_repro.rehearsal.exact_judge import EXACT_JUDGES
        from aspo_repro.rehearsal.judge_server import JudgeServer

        _EXACT_SERVER = JudgeServer(port=0, model="mini-world-rule-judge", judges=EXACT_JUDGES).start()
        atexit.register(_EXACT_SERVER.stop)
        os.environ.update(_EXACT_SERVER.environment())
        log(f"judge: the mini world's rules at {_EXACT_SERVER.base_url}")
    return _EXACT_SERVER


# ----------------------------------------------------------------------------- comparison

def _read_raw(path: Path) -> dict[str, Any]:
    from aspo_repro.files import read_json_object

    return read_json_object(path, "raw lmms-eval output")["output"]


def _ids(inputs: Inputs, which: str | None) -> list[str]:
    from aspo_repro.rehearsal.mini_datasets import MiniQuestions

    if which is None:
        return []
    return [q["id"] for q in getattr(MiniQuestions.load(inputs.benchmark_dir), which)]


def compare_benchmark(name: str, paper_result, own_result, inputs: Inputs) -> dict[str, Any]:
    """One benchmark of one model: the two scores and the per-question agreement."""
    from aspo_repro.evaluation.benchmarks import get_benchmark

    pairing = PAIRINGS[name]
    paper_raw = _read_raw(Path(paper_result.provenance["raw_outputs"][name]))
    own_raw = _read_raw(Path(own_result.provenance["raw_outputs"][pairing.mini]))
    own_samples = ag.samples_of(own_raw, get_benchmark(pairing.mini).tasks)
    ids = _ids(inputs, pairing.ids)
    answers = ag.agreement(pairing.paper_answers(ag.samples_of(paper_raw, get_benchmark(name).tasks), ids),
                           pairing.mini_answers(own_samples, ids))
    if pairing.mini_answers is ag.mini_mmb_first_rotation:
        own_score = ag.first_rotation_accuracy(own_samples)
    else:
        own_score = own_result.scores[pairing.mini].value if pairing.mini in own_result.scores else None
    paper_score = paper_result.scores[name].value if name in paper_result.scores else None
    return {"benchmark": name, "own_benchmark": pairing.mini, "paper_score": paper_score, "own_score": own_score,
            "difference": None if paper_score is None or own_score is None else paper_score - own_score,
            **answers.to_dict()}


def failures(row: dict[str, Any]) -> list[str]:
    """What a benchmark row of one model misses of its :data:`CHECKS` entry."""
    check = CHECKS[row["benchmark"]]
    problems = []
    if row["items"] == 0:
        problems.append("no question answered by both paths")
    same = row["same_response_pct"] * row["items"] / 100.0 if row["same_response_pct"] is not None else 0.0
    explained = 100.0 if same == 0 else 100.0 * (same - row["unexplained"]) / same
    if explained < check.explained_where_same_response:
        problems.append(f"{row['unexplained']} answer(s) read differently from the same response with no known "
                        f"rule difference ({explained:.1f}% < {check.explained_where_same_response:.0f}%: "
                        f"{check.reason})")
    alike = check.same_response_when_asked_alike
    if alike is not None and row.get("asked_alike") and (row["same_response_pct"] or 0.0) < alike:
        problems.append(f"{row['same_response_pct']:.1f}% identical responses to the same prompt "
                        f"(needs {alike:.0f}%: {SAME_PROMPT})")
    if row["same_parsed_pct"] == 100.0 and row["difference"] is not None and abs(row["difference"]) > 1e-6:
        problems.append(f"every answer identical but the scores differ by {row['difference']:+.4f}")
    return problems


def asks_alike(adapter: str, protocol: str, model_dir: Path) -> bool:
    """Whether the paper path prompts this checkpoint in its own chat template (as the mini path does)."""
    from aspo_repro.evaluation.protocols import get_protocol
    from aspo_repro.files import read_json_object

    model_type = read_json_object(model_dir / "config.json", "model config").get("model_type")
    return adapter in OWN_TEMPLATE_ADAPTERS and get_protocol(protocol).chat_template(model_type) is None


# ----------------------------------------------------------------------------- the run

def run_check(settings: CheckSettings) -> dict[str, Any]:
    """Build the inputs, run both evaluations of every model, compare; writes the report."""
    from aspo_repro.evaluation.runner import evaluate
    from aspo_repro.miniworld import obtain_world
    from aspo_repro.provenance import provenance

    started = time.perf_counter()
    world = obtain_world(settings.seed, settings.cache_dir, settings.world_size)
    inputs = prepare(settings, world)
    exact_judge_server(settings.log)
    models, seconds = {}, {}
    for mini_model in settings.models:
        tick = time.perf_counter()
        paper = evaluate(paper_settings(settings, inputs, mini_model))
        own = evaluate(own_settings(settings, inputs, mini_model, world))
        seconds[mini_model] = round(time.perf_counter() - tick, 1)
        rows = [compare_benchmark(name, paper, own, inputs) for name in PAPER_BENCHMARKS]
        alike = asks_alike(paper.provenance["adapter"], settings.protocol, inputs.snapshots[mini_model])
        for row in rows:
            row["asked_alike"] = alike
            row["failures"] = failures(row)
        models[mini_model] = {"paper_model": paper_analogue(mini_model), "adapter": paper.provenance["adapter"],
                              "protocol": paper.provenance.get("protocol"),
                              "own_adapter": own.provenance["adapter"], "rows": rows}
    report = {
        "questions_per_benchmark": settings.questions, "world": str(world.root), "models": models,
        "checks": {name: {"explained_where_same_response_pct": c.explained_where_same_response,
                          "reason": c.reason} for name, c in CHECKS.items()},
        "left_out": LEFT_OUT, "seconds": {**seconds, "total": round(time.perf_counter() - started, 1)},
        "provenance": provenance(),
    }
    storage.atomic_write_json(settings.out / "agreement.json", report)
    storage.atomic_write_text(settings.out / "agreement.md", render_markdown(report))
    return report


def _number(value: float | None, sign: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.1f}" if sign else f"{value:.1f}"


def render_markdown(report: dict[str, Any]) -> str:
    lines = ["# Checkable rehearsal: the paper path vs the project's own evaluation\n",
             f"{report['questions_per_benchmark']} questions per mini benchmark (mini-POPE: per split); "
             f"world `{report['world']}`.\n",
             "| model (adapter, protocol) | benchmark (questions) | paper path | own | difference | same response % | "
             "same answer % | same answer where same response % | same response, read apart by a known rule | check |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for mini_model, entry in report["models"].items():
        for row in entry["rows"]:
            rules = ", ".join(f"{ag.RULE_NAMES.get(rule, rule)} x{n}" for rule, n in row["explained"].items()) or "—"
            lines.append(
                f"| {mini_model} as {entry['paper_model']} ({entry['adapter']}, {entry['protocol']}) | "
                f"{row['benchmark']} ({row['items']}) | {_number(row['paper_score'])} | {_number(row['own_score'])} | "
                f"{_number(row['difference'], sign=True)} | {_number(row['same_response_pct'])} | "
                f"{_number(row['same_parsed_pct'])} | {_number(row['same_parsed_where_same_response_pct'])} | "
                f"{rules} | {'; '.join(row['failures']) or 'ok'} |")
    lines.append("\nLeft out: " + "; ".join(f"{name} ({why})" for name, why in report["left_out"].items()) + ".")
    lines.append(f"\nWall time: {report['seconds']}.\n")
    return "\n".join(lines)


def all_failures(report: dict[str, Any]) -> list[str]:
    return [f"{model}: {row['benchmark']}: {problem}" for model, entry in report["models"].items()
            for row in entry["rows"] for problem in row["failures"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aspo_repro.rehearsal.checkable", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="where inputs, results and agreement.json/.md go")
    parser.add_argument("--questions", type=int, default=QUESTIONS, help="questions per mini benchmark")
    parser.add_argument("--models", default=",".join(CheckSettings.models), help="mini models, comma-separated")
    parser.add_argument("--cache-dir", type=Path, default=None, help="the mini world's cache")
    parser.add_argument("--protocol", default=PROTOCOL, help=f"the paper path's evaluation protocol (llava, lmms-eval; "
                                                             f"default {PROTOCOL}: the models' own chat templates)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the snapshots are local; never ask the hub
    from aspo_repro.errors import UserError

    try:
        report = run_check(CheckSettings(args.out, args.questions, tuple(m for m in args.models.split(",") if m),
                                         cache_dir=args.cache_dir, protocol=args.protocol))
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print((args.out / "agreement.md").read_text(encoding="utf-8"))
    problems = all_failures(report)
    print("\n".join(problems) or "checkable rehearsal: every check passed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
