"""The benchmark registry: each column of the paper's tables (and its mini-world analogue)
as the lmms-eval task(s) that measure it, the metric read back, and what scoring it needs.

This is the one place a benchmark is stated: its name (the result store's key), profile, label
in tables, direction (SHR is lower-is-better) and, for a mini benchmark, the paper benchmark it
stands for. ``aspo_repro.results`` and ``aspo_repro.tables`` derive their lists from it.

A benchmark's value is the mean of ``metric`` over its ``tasks`` times ``scale``, so that every
score lands on the paper's 0-100 scale (POPE: the F1 of the random, popular and adversarial
splits, averaged, x 100).
"""

from __future__ import annotations

from dataclasses import dataclass

from aspo_repro.errors import UserError, unknown_name
from aspo_repro.profile_kinds import PROFILES, ProfileKind, get_profile_kind

# What scores a benchmark's answers: rules only, a GPT judge that needs an API key,
# rules with a GPT fallback (MMBench's answer extraction), or the exact rule judge of the mini world.
JUDGES = ("none", "gpt", "rules+gpt", "rule")


@dataclass(frozen=True)
class Benchmark:
    name: str
    profile: str
    label: str  # the column heading in tables
    tasks: tuple[str, ...]  # lmms-eval task names; the benchmark is their mean
    metric: str  # the lmms-eval metric key each task reports
    scale: float  # task metric x scale = the paper's 0-100 scale
    description: str
    lower_is_better: bool = False
    analogue_of: str | None = None  # a mini benchmark: the paper benchmark it stands for
    judge: str = "none"
    # scored by the benchmark's own server from this file, which lmms-eval writes under submissions/
    submission_file: str | None = None
    own_task: bool = False  # defined in aspo_repro/evaluation/tasks, not shipped with lmms-eval
    data_file: str | None = None  # mini: the file in the world's benchmark directory
    docs_per_item: int = 1  # lmms-eval docs per question (mini-MMB: one per rotation of the options)
    max_value: float | None = 100.0  # None: a relative score with no upper bound (LLaVA-W: vs GPT-4's answers)
    # read from the run of another benchmark (its tasks answered once), reported beside it
    reported_with: str | None = None
    in_average: bool = True  # counted in a table's Avg column (when higher is better)
    # the ``metrics.METRICS`` entry that reads its items, where ``metric`` does not name it (lmms-eval
    # calls MM-Vet's judge score and MMBench's circular accuracy both gpt_eval_score)
    item_rule_name: str | None = None
    # reads the SHR documents an evaluation names (``shr_data``, written by ``shr.prepare_shr_docs``)
    needs_shr_documents: bool = False
    # lmms-eval's judge client posts to OPENAI_API_URL as the whole chat-completions endpoint (MMBench's
    # evaluator); otherwise, where it has a GPT judge, it takes it as the base URL (lmms-eval's llm_judge)
    judge_client_wants_endpoint: bool = False
    # its score is a share of judged sentences: a description with none judged gives no score
    judges_sentences: bool = False

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"benchmark {self.name!r}: profile must be one of {PROFILES}")
        if self.judge not in JUDGES:
            raise ValueError(f"benchmark {self.name!r}: judge must be one of {JUDGES}")

    @property
    def profile_kind(self) -> ProfileKind:
        return get_profile_kind(self.profile)

    @property
    def higher_is_better(self) -> bool:
        return not self.lower_is_better

    @property
    def submission(self) -> bool:
        """Scored by the benchmark's evaluation server, not here (aspo_repro.evaluation.submissions)."""
        return self.submission_file is not None

    @property
    def item_rule(self) -> str:
        """The ``metrics.METRICS`` entry its per-item contributions are read by."""
        return self.item_rule_name or self.metric

    @property
    def needs_api_key(self) -> bool:
        return self.judge in ("gpt", "rules+gpt")

    @property
    def judged_by_own_gpt_judge(self) -> bool:
        """Judged by the project's GPT sentence judge (``shr.py``, through ``paper_tasks``), not lmms-eval's."""
        return self.own_task and self.judge == "gpt"


_PAPER = (
    Benchmark("mmvet", "paper", "MMVet", ("mmvet",), "gpt_eval_score", 1.0, "MM-Vet, GPT-4 graded",
              judge="gpt", item_rule_name="mmvet_score"),
    Benchmark("mmbench_dev", "paper", "MMB-dev", ("mmbench_en_dev",), "gpt_eval_score", 1.0,
              "MMBench-EN dev, circular accuracy", judge="rules+gpt", item_rule_name="mmbench_circular",
              judge_client_wants_endpoint=True),
    Benchmark("mmbench_test", "paper", "MMB-test", ("mmbench_en_test",), "submission", 1.0,
              "MMBench-EN test: answers are written for submission to the MMBench server",
              submission_file="mmbench_en_test_results.xlsx"),
    Benchmark("mmbench_cn", "paper", "MMB-CN", ("mmbench_cn_dev",), "gpt_eval_score", 1.0,
              "MMBench-CN dev, circular accuracy", judge="rules+gpt", item_rule_name="mmbench_circular",
              judge_client_wants_endpoint=True),
    Benchmark("seed_image", "paper", "SEED-I", ("seedbench",), "seed_image", 100.0,
              "SEED-Bench, image questions"),
    Benchmark("llava_wild", "paper", "LLaVA-W", ("llava_in_the_wild",), "gpt_eval_llava_all", 1.0,
              "LLaVA-Bench in the wild, GPT relative score (x 100 of the reference's; may exceed 100)", judge="gpt",
              max_value=None),
    Benchmark("sqa_img", "paper", "SQA-I", ("scienceqa_img",), "exact_match", 100.0,
              "ScienceQA, image questions"),
    Benchmark("gqa", "paper", "GQA", ("gqa",), "exact_match", 100.0, "GQA test-dev balanced, exact match"),
    Benchmark("pope", "paper", "POPE", ("pope_random", "pope_pop", "pope_adv"), "pope_f1_score", 100.0,
              "POPE: F1 of the random, popular and adversarial splits, averaged"),
    Benchmark("shr", "paper", "SHR", ("shr",), "shr", 100.0,
              "SHR (HA-DPO): hallucinated / judged sentences of detailed descriptions, lower is better",
              lower_is_better=True, judge="gpt", own_task=True, needs_shr_documents=True, judges_sentences=True),
)
_MINI = (
    Benchmark("mini_pope", "mini", "mini-POPE",
              ("mini_pope_random", "mini_pope_popular", "mini_pope_adversarial"), "pope_f1", 100.0,
              "mini-POPE: F1 of the three splits, averaged", analogue_of="pope",
              own_task=True, data_file="mini_pope.jsonl"),
    Benchmark("mini_shr", "mini", "mini-SHR", ("mini_shr",), "shr", 100.0,
              "mini-SHR: hallucinated / judged sentences, exact rule judge, lower is better",
              lower_is_better=True, analogue_of="shr", judge="rule", own_task=True,
              data_file="mini_shr.jsonl", judges_sentences=True),
    Benchmark("mini_shr_correct", "mini", "correct/img", ("mini_shr",), "correct_per_image", 1.0,
              "mini-SHR's correct sentences per description (beside SHR: did correct sentences go?)",
              judge="rule", own_task=True, data_file="mini_shr.jsonl", max_value=None,
              reported_with="mini_shr", in_average=False),
    Benchmark("mini_shr_hallucinated", "mini", "halluc./img", ("mini_shr",), "hallucinated_per_image", 1.0,
              "mini-SHR's hallucinated sentences per description", lower_is_better=True,
              judge="rule", own_task=True, data_file="mini_shr.jsonl", max_value=None,
              reported_with="mini_shr", in_average=False),
    Benchmark("mini_gqa", "mini", "mini-GQA", ("mini_gqa",), "exact_match", 100.0,
              "mini-GQA: colour, count, position and shape questions, exact match",
              analogue_of="gqa", own_task=True, data_file="mini_gqa.jsonl"),
    Benchmark("mini_mmb", "mini", "mini-MMB", ("mini_mmb",), "circular_accuracy", 100.0,
              "mini-MMB: multiple choice, right only if every rotation of the options is",
              analogue_of="mmbench_dev", own_task=True, data_file="mini_mmb.jsonl", docs_per_item=4),
)
REGISTRY: dict[str, Benchmark] = {b.name: b for b in (*_PAPER, *_MINI)}


def benchmark_names(profile: str) -> tuple[str, ...]:
    """The benchmarks of ``profile``, in the registry's (the paper's column) order."""
    return tuple(b.name for b in REGISTRY.values() if b.profile == profile)


# Names that select a whole benchmark set on the command line: a profile's benchmarks.
SETS = {profile: benchmark_names(profile) for profile in PROFILES}


def get_benchmark(name: str) -> Benchmark:
    try:
        return REGISTRY[name]
    except KeyError:
        raise unknown_name("benchmark", name, [*REGISTRY, *SETS]) from None


def select(spec: str | list[str] | tuple[str, ...]) -> tuple[Benchmark, ...]:
    """Benchmarks named by ``spec``: ``mini``, ``paper``, or names separated by commas.

    All must belong to one profile (a model is evaluated in one world)."""
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    chosen: list[Benchmark] = []
    for name in (n.strip() for n in names):
        if not name:
            continue
        for member in SETS.get(name, (name,)):
            benchmark = get_benchmark(member)
            if benchmark not in chosen:
                chosen.append(benchmark)
    if not chosen:
        raise UserError(f"no benchmark named; choose from: {', '.join([*SETS, *REGISTRY])}")
    profiles = sorted({b.profile for b in chosen})
    if len(profiles) > 1:
        raise UserError(
            "benchmarks of the paper and mini profiles cannot be mixed in one evaluation: "
            f"{', '.join(b.name for b in chosen)}"
        )
    return tuple(chosen)


def profile_of(benchmarks: tuple[Benchmark, ...]) -> str:
    return benchmarks[0].profile
