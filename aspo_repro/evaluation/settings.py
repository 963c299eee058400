"""What one evaluation is asked to do: :class:`EvalSettings`, a profile's ``evaluate:`` section and
the ``evaluate`` command's flags alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aspo_repro.devices import resolve_device
from aspo_repro.errors import UserError
from aspo_repro.evaluation.benchmarks import Benchmark, profile_of
from aspo_repro.evaluation.protocols import DEFAULT_PROTOCOL, EvalProtocol, get_protocol
from aspo_repro.evaluation.submissions import raw_output_dir
from aspo_repro.files import SET_PER_JOB
from aspo_repro.models.loading import precision_dtype
from aspo_repro.profile_kinds import ProfileKind, get_profile_kind
from aspo_repro.results import RunKey


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
    def profile_kind(self) -> ProfileKind:
        return get_profile_kind(self.profile)

    @property
    def raw_dir(self) -> Path:
        return raw_output_dir(self.out)
