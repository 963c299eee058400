"""Evaluate one model directory on a set of benchmarks through lmms-eval, and write one result.

For each benchmark: its lmms-eval tasks (the project's own ones from ``tasks/``, pointed at
their data files by a task-config override) are loaded through a ``TaskManager`` that includes
the project's task folder, and run by ``lmms_eval.evaluator.simple_evaluate`` with one model
loaded once. lmms-eval's whole output is kept beside the result file
(``<out stem>.lmms_eval/<benchmark>.json``) and doubles as a checkpoint: a benchmark whose raw
output matches the model, data, limit and lmms-eval version is not run again. The normalised
result (``aspo_repro.results.EvalResult``) is written last and atomically, so an interrupted
evaluation leaves no result file.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import gc
import inspect
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from tqdm import tqdm

from aspo_repro import storage
from aspo_repro.devices import resolve_device
from aspo_repro.errors import UserError
from aspo_repro.evaluation import verdicts
from aspo_repro.evaluation.benchmarks import Benchmark, profile_of
from aspo_repro.evaluation.mini_tasks import BENCHMARK_DIR_ENV
from aspo_repro.evaluation.normalise import LMMS_JUDGE_ENV, Outcome, normalise
from aspo_repro.evaluation.protocols import DEFAULT_PROTOCOL, EvalProtocol, get_protocol
from aspo_repro.evaluation.shr import API_KEY_ENV, JUDGE_MODEL_ENV
from aspo_repro.evaluation.submissions import raw_output_dir, with_server_score
from aspo_repro.files import SET_PER_JOB, read_json_object, read_record, warn
from aspo_repro.models.loading import precision_dtype
from aspo_repro.provenance import provenance
from aspo_repro.results import EvalResult, RunKey

TASKS_DIR = Path(__file__).resolve().parent / "tasks"
MINI_ADAPTER = "aspo_hf"
# lmms-eval's adapters for the paper's checkpoints, by the checkpoint's config model_type
# (InstructBLIP's answers without its prompt: evaluation/instructblip_adapter.py).
PAPER_ADAPTERS = {"llava": "llava_hf", "instructblip": "instructblip_new_tokens"}
PAPER_SCORING_THREADS = 4  # lmms-eval's default


@dataclass(frozen=True)
class EvalSettings:
    """One evaluation. A profile's ``evaluate:`` section is these settings; the fields marked
    :data:`SET_PER_JOB` are filled in for each run by ``reproduce`` (``evaluate`` takes them from its flags)."""

    model_dir: Path | None = field(default=None, metadata=SET_PER_JOB)
    out: Path | None = field(default=None, metadata=SET_PER_JOB)
    run: RunKey | None = field(default=None, metadata=SET_PER_JOB)
    # the benchmarks, or a benchmark set or comma-separated list of names (``mini``, ``paper``, ``mmvet,pope``)
    benchmarks: tuple[Benchmark, ...] | str = "mini"
    limit: int | None = None  # questions per task (lmms-eval's --limit), for smoke runs
    # mini: the world's benchmark directory
    benchmark_dir: Path | None = field(default=None, metadata=SET_PER_JOB)
    shr_data: Path | None = None  # paper: documents written by shr.prepare_shr_docs
    adapter: str | None = None  # an lmms-eval model name; by default chosen from the checkpoint
    batch_size: int = 32
    device: str = "auto"  # resolved to the best available (aspo_repro.devices) on every path
    # the weights' precision while evaluating (fp16, bf16, fp32); None: the checkpoint's own (what its
    # config.json records: fp16 for LLaVA-1.5, fp32 for InstructBLIP's hub snapshot)
    dtype: str | None = None
    threads: int = 1  # CPU threads of the aspo_hf adapter (see adapter.torch_threads)
    # paper: local copies of the benchmarks' hub datasets, as DIR/OWNER/NAME (what `huggingface-cli
    # download --repo-type dataset OWNER/NAME --local-dir DIR/OWNER/NAME` writes); None: from the hub
    dataset_dir: Path | None = None
    max_new_tokens: int | None = None  # a cap on every task's answer length (None: each task's own)
    # start a local OpenAI-compatible judge with deterministic judgements (the rehearsal's)
    judge_server: bool = False
    # score the submission benchmarks (MMB-test) by a stand-in of their server, against the answer
    # keys kept beside the local datasets (the rehearsal's); otherwise they wait for the real server's score
    submission_server: bool = False
    # paper: whose evaluation settings (evaluation/protocols.py, docs/protocol.md): llava or lmms-eval
    protocol: EvalProtocol | str = DEFAULT_PROTOCOL
    # paper: judge models by benchmark (mmvet, llava_wild, shr, ...), over the protocol's pinned ones
    judge_models: dict[str, str] = field(default_factory=dict)
    # paper: HA-DPO's SHR judge prompt, read from a checkout's ha_dpo/shr_eval/gpt_utils.py or a text
    # file (three {} placeholders: regions, facts, comments); None: the project's paraphrase (shr.py)
    shr_judge_prompt: Path | None = None

    def __post_init__(self) -> None:
        from aspo_repro.evaluation.benchmarks import select

        if isinstance(self.benchmarks, str):
            object.__setattr__(self, "benchmarks", select(self.benchmarks))
        elif not all(isinstance(benchmark, Benchmark) for benchmark in self.benchmarks):
            raise UserError(f"benchmarks must be a set (mini, paper) or comma-separated names; got {self.benchmarks!r}")
        if isinstance(self.protocol, str):
            object.__setattr__(self, "protocol", get_protocol(self.protocol))
        object.__setattr__(self, "device", resolve_device(self.device))
        precision_dtype(self.dtype)  # an unknown precision fails when the settings are made
        if self.limit is not None and self.limit < 1:
            raise UserError(f"--limit must be a positive number of questions; got {self.limit}")
        if self.batch_size < 1:
            raise UserError(f"--batch-size must be positive; got {self.batch_size}")
        if self.threads < 1:
            raise UserError(f"--threads must be positive; got {self.threads}")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise UserError(f"max_new_tokens must be positive; got {self.max_new_tokens}")
        if self.submission_server and self.dataset_dir is None:
            raise UserError("submission_server scores against the answer keys beside the local datasets: "
                            "it needs dataset_dir")
        self._check_judges()

    def _check_judges(self) -> None:
        from aspo_repro.evaluation.benchmarks import REGISTRY

        judged = sorted(name for name, b in REGISTRY.items() if b.needs_api_key)
        for name, model in self.judge_models.items():
            if name not in judged or not isinstance(model, str) or not model:
                raise UserError(f"judge_models: {name!r}: {model!r} must map a judged benchmark "
                                f"({', '.join(judged)}) to a model name")
        if self.shr_judge_prompt is not None and not self.shr_judge_prompt.is_file():
            raise UserError(f"shr_judge_prompt {self.shr_judge_prompt} does not exist "
                            "(HA-DPO's ha_dpo/shr_eval/gpt_utils.py, or a text file holding its prompt)")

    def judge_model(self, benchmark: Benchmark) -> str | None:
        """The judge model ``benchmark`` asks for: this evaluation's choice, else the protocol's pin
        (None: lmms-eval's default or the environment's)."""
        return self.judge_models.get(benchmark.name) or self.protocol.judge_model(benchmark.name)

    def check_job(self) -> None:
        """The per-job fields are set and the local datasets exist (checked when the evaluation starts:
        a profile names datasets its first step may build)."""
        if self.model_dir is None or self.out is None or self.run is None:
            raise UserError("an evaluation needs the model directory, the result file and the run it scores")
        if self.dataset_dir is not None and not self.dataset_dir.is_dir():
            raise UserError(f"the benchmarks' local datasets {self.dataset_dir} do not exist")

    @property
    def profile(self) -> str:
        return profile_of(self.benchmarks)

    @property
    def raw_dir(self) -> Path:
        return raw_output_dir(self.out)


def lmms_eval_version() -> str:
    return metadata.version("lmms_eval")


# ----------------------------------------------------------------------------- data and judges

def data_file(settings: EvalSettings, benchmark: Benchmark) -> Path | None:
    """The local file a project task reads, or None for lmms-eval's own (hub) tasks."""
    if benchmark.data_file is not None:
        if settings.benchmark_dir is None:
            raise UserError(f"{benchmark.name} needs the mini world's benchmark directory (--benchmark-dir)")
        path = settings.benchmark_dir / benchmark.data_file
        if not path.is_file():
            raise UserError(f"{path} does not exist: is {settings.benchmark_dir} a mini world's benchmark directory?")
        return path
    if benchmark.name == "shr" and settings.shr_data is not None:
        if not settings.shr_data.is_file():
            raise UserError(f"SHR documents {settings.shr_data} do not exist (write them with shr.prepare_shr_docs)")
        return settings.shr_data
    return None


def reason_not_run(settings: EvalSettings, benchmark: Benchmark, have_judge: bool) -> str | None:
    """Why a benchmark cannot be scored at all in this environment (checked before running)."""
    if benchmark.needs_api_key and not (have_judge or os.environ.get(API_KEY_ENV)):
        kind = "a GPT judge" if benchmark.judge == "gpt" else "GPT to extract answers the rules cannot"
        return f"needs {kind}: set {API_KEY_ENV} (an OpenAI-compatible key) and run again"
    if benchmark.name == "shr" and (settings.shr_data is None or not settings.shr_data.is_file()):
        given = f"{settings.shr_data} does not exist; " if settings.shr_data is not None else ""
        return (f"needs the SHR documents ({given}--shr-data FILE or the profile's evaluate.shr_data, "
                "written by aspo_repro.evaluation.shr.prepare_shr_docs)")
    return None


def task_configs(benchmark: Benchmark, path: Path | None, dataset_dir: Path | None = None) -> list[str | dict[str, Any]]:
    """What ``get_task_dict`` gets: task names, or configs pointing at local data (a project task's
    data file, or the local copy of a hub dataset in ``dataset_dir``)."""
    if path is not None:
        return [{"task": task, "dataset_kwargs": {"data_files": {"test": str(path)}}} for task in benchmark.tasks]
    if dataset_dir is not None and not benchmark.own_task:
        from aspo_repro.rehearsal.benchmark_data import DATASETS, task_dataset_overrides

        missing = [d.hub_id for d in DATASETS if set(d.tasks) & set(benchmark.tasks) and not (dataset_dir / d.directory).is_dir()]
        if missing:
            raise UserError(f"{benchmark.name}: no local copy of {', '.join(missing)} in {dataset_dir} "
                            f"(expected {dataset_dir}/OWNER/NAME, as `huggingface-cli download --repo-type dataset "
                            f"OWNER/NAME --local-dir {dataset_dir}/OWNER/NAME` writes)")
        return task_dataset_overrides({d.hub_id: dataset_dir / d.directory for d in DATASETS}, benchmark.tasks)
    return list(benchmark.tasks)


def cap_answer_length(tasks: list, max_new_tokens: int | None) -> None:
    """At most ``max_new_tokens`` per answer in every task (lmms-eval reads its task config's
    generation settings when it builds the requests)."""
    if max_new_tokens is None:
        return
    for task in tasks:
        settings = dict(task.config.generation_kwargs or {})
        settings["max_new_tokens"] = min(settings.get("max_new_tokens", max_new_tokens), max_new_tokens)
        task.config.generation_kwargs = settings


@contextlib.contextmanager
def environment(name: str, value: str | None) -> Iterator[None]:
    old = os.environ.get(name)
    if value is not None:
        os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


@contextlib.contextmanager
def judge_environment(settings: EvalSettings, benchmark: Benchmark) -> Iterator[None]:
    """The judge model ``benchmark`` asks for, where the judges read it: lmms-eval's task code reads
    MODEL_VERSION when a task's utils module is loaded, the SHR judge ASPO_SHR_JUDGE_MODEL when built,
    and ``normalise`` names the judge from them."""
    model = settings.judge_model(benchmark)
    with environment(LMMS_JUDGE_ENV, model), environment(JUDGE_MODEL_ENV, model):
        yield


def protocol_task_configs(settings: EvalSettings, benchmark: Benchmark, configs: list) -> list:
    """``configs`` with the protocol's overrides of lmms-eval's own tasks (the project's own tasks keep theirs)."""
    if benchmark.own_task:
        return configs
    return [settings.protocol.task_config(config) for config in configs]


# ----------------------------------------------------------------------------- model

def default_adapter(model_dir: Path, profile: str) -> str:
    if profile == "mini":
        return MINI_ADAPTER
    model_type = read_json_object(model_dir / "config.json", "model config").get("model_type")
    if model_type not in PAPER_ADAPTERS:
        raise UserError(f"no lmms-eval adapter known for model_type {model_type!r}; known: "
                        f"{', '.join(PAPER_ADAPTERS)} (or name one with --adapter)")
    return PAPER_ADAPTERS[model_type]


def build_model(settings: EvalSettings, name: str):
    """The lmms-eval model object ``name`` for ``settings.model_dir`` (loaded once for all benchmarks)."""
    from aspo_repro.evaluation import instructblip_adapter
    from aspo_repro.evaluation.adapter import AspoHf, register

    register()
    instructblip_adapter.register()
    if name == MINI_ADAPTER:
        return AspoHf(pretrained=str(settings.model_dir), device=settings.device, batch_size=settings.batch_size,
                      threads=settings.threads, dtype=precision_dtype(settings.dtype) or "float32")
    return _lmms_eval_model(name, settings)


def _lmms_eval_model(name: str, settings: EvalSettings):
    import lmms_eval.models

    try:
        model_class = lmms_eval.models.get_model(name)
    except ImportError as error:
        raise UserError(f"lmms-eval's {name!r} adapter cannot be imported: {error} "
                        f"(install the missing package, e.g. `pip install {error.name}`)") from None
    except ValueError as error:
        raise UserError(f"unknown lmms-eval model {name!r}: {error}") from None
    if not (settings.model_dir / "config.json").is_file():
        raise UserError(f"{settings.model_dir} is not a model directory: it has no config.json")
    arguments = f"pretrained={settings.model_dir}"
    if settings.dtype is not None:
        arguments += f",dtype={precision_dtype(settings.dtype)}"
    if "device_map" in inspect.signature(model_class.__init__).parameters:
        # llava_hf's default device_map "" is refused by transformers 5: place the model on the device
        arguments += f",device_map={settings.device}"
    model_type = read_json_object(settings.model_dir / "config.json", "model config").get("model_type")
    template = settings.protocol.chat_template(model_type)
    if template is not None and "chat_template" in inspect.signature(model_class.__init__).parameters:
        conversation = {"chat_template": template}  # given as a value: a template holds commas
    else:
        conversation = {}
    try:
        model = model_class.create_from_arg_string(
            arguments, {"batch_size": settings.batch_size, "device": settings.device, **conversation})
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"cannot load the model in {settings.model_dir} with {name}: {error}") from None
    present_as_protocol(model, name, settings.protocol, model_type)
    # lmms-eval frees the model after each evaluation; the runner reuses it for the next benchmark.
    model.clean = gc.collect
    return model


def present_as_protocol(model, name: str, protocol: EvalProtocol, model_type: str | None) -> None:
    """The adapter's processor (lmms-eval's llava_hf and instructblip keep it as ``_image_processor``,
    loaded without options) set up as the protocol presents prompts and images."""
    processor = getattr(model, "_image_processor", None)
    if processor is None or not hasattr(processor, "image_processor"):
        if protocol.pads_to_square(model_type) or protocol.chat_template(model_type):
            raise UserError(f"the {protocol.name} protocol cannot set the {name} adapter's prompts and images "
                            "(no processor where llava_hf keeps it): use the default adapter, or protocol: lmms-eval")
        return
    protocol.prepare_processor(processor, model_type)


def model_fingerprint(model_dir: Path) -> str:
    """Cheap identity of a checkpoint directory: relative paths, sizes and modification times."""
    if not model_dir.is_dir():
        return str(model_dir)
    files = sorted(p for p in model_dir.rglob("*") if p.is_file())
    return storage.stable_hash([[p.relative_to(model_dir).as_posix(), p.stat().st_size, p.stat().st_mtime_ns]
                                for p in files])


# ----------------------------------------------------------------------------- running

@functools.lru_cache(maxsize=2)
def task_manager(profile: str):
    """lmms-eval's task index: the project's tasks, plus lmms-eval's own for the paper profile
    (indexing those takes seconds, so one index per profile is kept for the process)."""
    from lmms_eval.tasks import TaskManager

    return TaskManager(verbosity="WARNING", include_path=str(TASKS_DIR), include_defaults=profile == "paper")


def load_tasks(benchmark: Benchmark, configs: list, manager, task_type: str = "simple") -> list:
    """lmms-eval task objects with their data loaded, or a UserError naming what failed.

    ``task_type`` is the model's kind: lmms-eval builds a "chat" model's requests (messages) and a
    "simple" one's (text and visuals) differently, as its own ``simple_evaluate`` does. (Through
    ``load_task_or_group``: lmms-eval 0.7.3's ``get_task_dict`` drops ``task_type`` for configs
    given as dicts, which made chat models receive simple requests.)"""
    try:
        return list(manager.load_task_or_group(configs, task_type).values())
    except UserError:
        raise
    except Exception as error:  # lmms-eval and datasets raise many kinds; the message says which
        hint = (" (lmms-eval downloads this benchmark from the Hugging Face hub: run with network access, "
                "or with the dataset already in HF_DATASETS_CACHE)") if not benchmark.own_task else ""
        raise UserError(f"{benchmark.name}: lmms-eval could not load its data: "
                        f"{type(error).__name__}: {error}{hint}") from None


@functools.lru_cache(maxsize=1)
def protocol_code_fingerprint() -> str:
    """Hash of the protocols' code: a raw output made under other protocol rules is not reused."""
    return storage.sha256_file(Path(__file__).resolve().parent / "protocols.py")


@functools.lru_cache(maxsize=1)
def task_code_fingerprint() -> str:
    """Hash of the project's task definitions and the code that scores them: a raw output
    scored by other code is not reused."""
    here = Path(__file__).resolve().parent
    files = sorted(p for p in TASKS_DIR.rglob("*") if p.suffix in (".yaml", ".py"))
    files += [here / name for name in ("mini_tasks.py", "paper_tasks.py", "metrics.py", "shr.py")]
    return storage.stable_hash([[f.relative_to(here).as_posix(), storage.sha256_file(f)] for f in files])


def scoring_threads(benchmark: Benchmark) -> int:
    """Threads lmms-eval scores answers with. The mini judge splits sentences with one shared
    pysbd segmenter, which is not thread-safe (scored in parallel, the same answers got
    different SHR values run to run); the paper's GPT judges wait on the network."""
    return 1 if benchmark.profile == "mini" else PAPER_SCORING_THREADS


def run_benchmark(settings: EvalSettings, benchmark: Benchmark, model, manager, adapter_name: str) -> dict[str, Any]:
    """lmms-eval's output for one benchmark: reused from the raw file when it matches, else run."""
    from lmms_eval.evaluator import simple_evaluate

    path = data_file(settings, benchmark)
    fingerprint = {
        "benchmark": benchmark.name, "tasks": list(benchmark.tasks), "limit": settings.limit,
        "model": model_fingerprint(settings.model_dir), "adapter": adapter_name,
        "data": storage.sha256_file(path) if path else None, "lmms_eval": lmms_eval_version(),
        "task_code": task_code_fingerprint() if benchmark.own_task else None,
        "max_new_tokens": settings.max_new_tokens,
        "datasets": str(settings.dataset_dir) if settings.dataset_dir and not benchmark.own_task else None,
        "protocol": [settings.protocol.name, protocol_code_fingerprint()], "judge": settings.judge_model(benchmark),
        "judge_prompt": storage.stable_hash(shr_prompt(settings)) if settings.shr_judge_prompt and benchmark.own_task else None,
    }
    raw_path = settings.raw_dir / f"{benchmark.name}.json"
    saved = _read_raw(raw_path)
    if saved is not None and saved.get("fingerprint") == fingerprint and isinstance(saved.get("output"), dict):
        return saved["output"]
    task_type = "simple" if getattr(model, "is_simple", True) else "chat"
    configs = protocol_task_configs(settings, benchmark, task_configs(benchmark, path, settings.dataset_dir))
    tasks = load_tasks(benchmark, configs, manager, task_type)
    if not benchmark.own_task:
        settings.protocol.adjust_generation(tasks)
    cap_answer_length(tasks, settings.max_new_tokens)
    with verdicts.recorded() as mmbench_verdicts:  # MMBench's per-question verdicts, which it does not log
        output = simple_evaluate(
            model=model, tasks=tasks, task_manager=manager, log_samples=True, verbosity="WARNING",
            limit=settings.limit * benchmark.docs_per_item if settings.limit else None,
            cli_args=argparse.Namespace(output_path=str(settings.raw_dir), process_with_media=False),
            process_docs_parallel=scoring_threads(benchmark),
        )
    verdicts.add_to_samples(output, benchmark, mmbench_verdicts)
    storage.atomic_write_json(raw_path, {"fingerprint": fingerprint, "output": output})
    return _read_raw(raw_path)["output"]


def answered_by(benchmark: Benchmark) -> Benchmark:
    """The benchmark whose run answers ``benchmark``'s questions: itself, or the one it is reported with."""
    from aspo_repro.evaluation.benchmarks import get_benchmark

    return get_benchmark(benchmark.reported_with) if benchmark.reported_with else benchmark


def _read_raw(path: Path) -> dict[str, Any] | None:
    """A benchmark's saved lmms-eval output; a damaged one is reported and the benchmark run again."""
    return read_record(path, "raw lmms-eval output", warn)


@dataclass
class _Progress:
    outcomes: dict[str, Outcome]
    raw_paths: dict[str, str]
    seconds: dict[str, float]
    task_versions: dict[str, Any]


def _run_all(settings: EvalSettings, benchmarks: list[Benchmark], model, adapter_name: str) -> _Progress:
    progress = _Progress({}, {}, {}, {})
    manager = task_manager(settings.profile)
    benchmark_dir = str(settings.benchmark_dir.resolve()) if settings.benchmark_dir else None
    raws: dict[str, dict[str, Any]] = {}
    with environment(BENCHMARK_DIR_ENV, benchmark_dir):
        for benchmark in tqdm(benchmarks, desc="benchmarks", unit="benchmark"):
            tick = time.perf_counter()
            source = answered_by(benchmark)  # a benchmark reported with another reads that one's answers
            with judge_environment(settings, source):
                if source.name not in raws:
                    raws[source.name] = run_benchmark(settings, source, model, manager, adapter_name)
                raw = raws[source.name]
                progress.seconds[benchmark.name] = round(time.perf_counter() - tick, 2)
                progress.outcomes[benchmark.name] = normalise(benchmark, raw)
            progress.raw_paths[benchmark.name] = str(settings.raw_dir / f"{source.name}.json")
            progress.task_versions.update({t: raw.get("versions", {}).get(t) for t in benchmark.tasks})
    return progress


def evaluate(settings: EvalSettings, *, model=None, shr_judge=None) -> EvalResult:
    """Evaluate and write ``settings.out``; returns the result.

    ``model`` (an lmms-eval model object) replaces loading ``settings.model_dir``;
    ``shr_judge`` replaces the SHR judge built from the environment (both for tests)."""
    from aspo_repro.evaluation import paper_tasks

    settings.check_job()
    if settings.judge_server:
        from aspo_repro.rehearsal.judge_server import shared_judge_server

        shared_judge_server()
    started = time.perf_counter()
    missing = {b.name: r for b in settings.benchmarks if (r := reason_not_run(settings, b, shr_judge is not None))}
    runnable = [b for b in settings.benchmarks if b.name not in missing]
    for benchmark in runnable:
        data_file(settings, benchmark)  # fail on a missing data file before loading the model
    progress, adapter_name = _Progress({}, {}, {}, {}), None
    if runnable:
        if model is None:
            adapter_name = settings.adapter or default_adapter(settings.model_dir, settings.profile)
            model = build_model(settings, adapter_name)
        else:
            adapter_name = type(model).__name__
        if any(b.name == "shr" for b in runnable):
            paper_tasks.use_judge(shr_judge, shr_prompt(settings))
        progress = _run_all(settings, runnable, model, adapter_name)
    missing.update({name: o.missing for name, o in progress.outcomes.items() if o.missing})
    result = EvalResult(
        run=settings.run,
        scores={name: o.score for name, o in progress.outcomes.items() if o.score is not None},
        provenance={
            **provenance(),
            "model_dir": str(settings.model_dir), "model_fingerprint": model_fingerprint(settings.model_dir),
            "adapter": adapter_name, "lmms_eval_version": lmms_eval_version(),
            "task_versions": progress.task_versions, "raw_outputs": progress.raw_paths, "limit": settings.limit,
            "benchmark_dir": str(settings.benchmark_dir) if settings.benchmark_dir else None,
            "device": settings.device, "dtype": loaded_dtype(model),
            "protocol": settings.protocol.name if settings.profile == "paper" else None,
            "datasets": str(settings.dataset_dir) if settings.dataset_dir else None,
            "max_new_tokens": settings.max_new_tokens,
            "judges": {name: o.score.judge for name, o in progress.outcomes.items() if o.score and o.score.judge},
        },
        extra={
            "missing": missing,
            "details": {name: o.details for name, o in progress.outcomes.items()},
            "seconds": {**progress.seconds, "total": round(time.perf_counter() - started, 2)},
            "training": training_summary(settings.model_dir),
        },
    )
    if settings.submission_server:
        result = scored_by_server_standin(settings, result, [b for b in runnable if b.submission])
    result.save(settings.out)
    return result


def loaded_dtype(model) -> str | None:
    """The dtype holding most of the parameters of the network an lmms-eval model object loaded
    (``float16`` ...; not transformers' ``dtype``, the first parameter's: InstructBLIP's query tokens
    stay fp32 in an fp16 model); None when no model was loaded or it has no parameters."""
    network = getattr(model, "model", None)
    if not hasattr(network, "parameters"):
        return None
    counts = collections.Counter()
    for parameter in network.parameters():
        counts[parameter.dtype] += parameter.numel()
    return str(counts.most_common(1)[0][0]).removeprefix("torch.") if counts else None


def shr_prompt(settings: EvalSettings) -> str:
    """The SHR judge's prompt: HA-DPO's verbatim one when given, else the project's paraphrase."""
    from aspo_repro.evaluation import shr

    return shr.read_judge_prompt(settings.shr_judge_prompt) if settings.shr_judge_prompt else shr.JUDGE_PROMPT


def training_summary(model_dir: Path) -> dict[str, Any] | None:
    """What the training run that made ``model_dir`` (its ``merged/`` output) recorded about itself:
    settings and the drift on its held-out pairs (``training/drift.py``); None for a base model."""
    if Path(model_dir).name != "merged":
        return None
    record = read_record(Path(model_dir).parent / "run.json", "training run record", warn)
    if record is None:
        return None
    config = record.get("config") or {}
    return {
        "run_key": record.get("run_key"),
        "method": (record.get("method") or {}).get("name"),
        "learning_rate": config.get("learning_rate"),
        "beta": (record.get("method") or {}).get("beta"),
        "steps": record.get("steps"),
        "trained_pairs": (record.get("data") or {}).get("trained_pairs"),
        "held_out": record.get("held_out"),
    }


def scored_by_server_standin(settings: EvalSettings, result: EvalResult, benchmarks: list[Benchmark]) -> EvalResult:
    """``result`` with each submission benchmark scored by the rehearsal's stand-in of its server."""
    from aspo_repro.evaluation.submissions import submission_path
    from aspo_repro.rehearsal.submission_server import SubmissionServerStandin

    server = SubmissionServerStandin(settings.dataset_dir)
    for benchmark in benchmarks:
        value, n = server.score(benchmark, submission_path(settings.out, benchmark))
        result = with_server_score(result, settings.out, benchmark, value, server.name(benchmark), n=n)
    return result
