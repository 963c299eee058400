"""What the regression check catches and how often it cries wolf (docs/regression.md).

Two measurements, one command each:

    # the detection matrix: each injected fault (tests/mutants/mutants.py) applied to a reproduction of
    # the candidate (its other runs reused), compared with the reference; Markdown to --out
    python .ci/regression_power.py matrix --candidate RESULTS --work WORK [--mutants a,b] [--methods m,n] \\
        [--out FILE] [--require-caught]

    # the false-alarm rate of unchanged candidates, every choice of 3 of a world's seeds: --within, on the
    # machine kind that made the reference (each world against its own other seeds, as CI compares);
    # else every world replicate in turn held out of the reference (another machine's world; --held-out
    # adds replicates outside it); --fresh: replicates made after the checks were declared
    python .ci/regression_power.py false-alarms --reference results/smoke --within [--out FILE]
    python .ci/regression_power.py false-alarms --reference results/smoke [--held-out ROOT ...] [--out FILE]
    python .ci/regression_power.py false-alarms --reference results/smoke --fresh ROOT [ROOT ...] [--fresh-against w1,w2]

    # both, as docs/regression.md reports them (RESULTS, WORK: CI's candidate, world replicate 0)
    python .ci/regression_power.py all --candidate RESULTS --work WORK --out docs/regression-power.md

The candidate is a mini-smoke reproduction of Table 5 on mini-LLaVA-S made on a world replicate that
is not in the reference (CI's: replicate 0). ``--methods`` reruns only those of a mutant's methods
(CI's cut); ``--scratch DIR`` keeps the mutants' reproductions, so a rerun resumes an interrupted one and
only compares a finished one again (delete DIR when the code has changed); ``--require-caught`` exits 1 when a mutant passes every primary check or the unchanged
candidate fails one.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MUTANTS_DIR = REPO / "tests" / "mutants"
sys.path.insert(0, str(MUTANTS_DIR))
from mutants import MUTANT_ENV, MUTANTS  # noqa: E402

from aspo_repro import regression  # noqa: E402
from aspo_repro.regression import Comparison, compare, load_settings, reference_roots  # noqa: E402
from aspo_repro.results import collect  # noqa: E402

MODEL, PROFILE, RESULTS_PROFILE = "mini-llava-s", "mini-smoke", "mini"
CANDIDATE_SEEDS = 3
PREPARED = "prepared.json"  # a mutant's scratch copy is complete
# hundreds of comparisons
regression.read_values = functools.lru_cache(maxsize=None)(regression.read_values)
regression.world_signatures = functools.lru_cache(maxsize=None)(regression.world_signatures)


def mutate(name: str, candidate: Path, work: Path, methods: set[str] | None, scratch: Path) -> tuple[Path, float]:
    """A copy of the candidate with the mutant's methods rerun under the mutant; its results root and
    the minutes it took."""
    mutant = MUTANTS[name]
    results, runs = scratch / name / "results", scratch / name / "work"
    rerun = [m for m in mutant.retrains if methods is None or m in methods]
    prepared = scratch / name / PREPARED
    record = json.loads(prepared.read_text()) if prepared.exists() else {}
    done = record.get("rerun")
    if record.get("finished") and set(done) == set(rerun):  # kept from a finished run: only compared again
        return results, record["minutes"]
    if done is None or not set(done) <= set(rerun):  # a fresh copy of the candidate
        shutil.rmtree(scratch / name, ignore_errors=True)
        shutil.copytree(candidate, results)
        shutil.copytree(work, runs, ignore=shutil.ignore_patterns("reproduce.lock*", "reproduce.jsonl"))
        for cache in runs.glob("*/reference-logps"):  # a data mutant changes the reference's inputs
            shutil.rmtree(cache)
        done = []
    for method in set(rerun) - set(done):  # else the reproduction resumes what is already mutated
        shutil.rmtree(results / RESULTS_PROFILE / MODEL / method, ignore_errors=True)
        shutil.rmtree(runs / MODEL / method, ignore_errors=True)
    prepared.write_text(json.dumps({"rerun": sorted(rerun)}))
    env = {**os.environ, MUTANT_ENV: name,
           "PYTHONPATH": os.pathsep.join([str(MUTANTS_DIR), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    started = time.time()
    log = scratch / name / "reproduce.log"
    with log.open("w") as out:
        done = subprocess.run(
            [sys.executable, "-m", "aspo_repro", "reproduce", "--table", "5", "--profile", PROFILE, "--models", MODEL,
             "--seeds", str(CANDIDATE_SEEDS), "--results", str(results), "--tables-dir", str(scratch / name / "tables"),
             "--work-dir", str(runs)], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    if done.returncode:
        raise SystemExit(f"the reproduction under mutant {name} failed (exit {done.returncode}); its log: {log}\n"
                         + log.read_text()[-3000:])
    minutes = (time.time() - started) / 60
    prepared.write_text(json.dumps({"rerun": sorted(rerun), "finished": True, "minutes": minutes}))
    return results, minutes


def changed_runs(candidate: Path, mutated: Path) -> int:
    """How many of the candidate's scores the mutant changed (0: it never reached what it patches)."""
    index = ["model", "method", "seed", "benchmark"]
    before = collect(candidate, RESULTS_PROFILE).set_index(index)["value"]
    after = collect(mutated, RESULTS_PROFILE).set_index(index)["value"]
    return int((after.reindex(before.index) != before).sum())


def seeds_of(root: Path) -> list[int]:
    frame = collect(root, RESULTS_PROFILE)
    return sorted(int(s) for s in frame[frame.method != "base"].seed.unique())


def check_cells(comparison: Comparison) -> dict[str, tuple[float | None, float, float]]:
    """Each primary check's (delta, band, mde), keyed by its label."""
    return {label(c): (c.delta, c.band, c.mde) for c in comparison.primary}


def label(check) -> str:
    return f"{check.method} {check.kind} {check.benchmark}"


def matrix(args) -> tuple[str, bool]:
    settings = load_settings(args.settings)
    candidate, work = Path(args.candidate), Path(args.work)
    names = args.mutants.split(",") if args.mutants else list(MUTANTS)
    unknown = [n for n in names if n not in MUTANTS]
    if unknown:
        raise SystemExit(f"unknown mutant {unknown[0]!r}; known: {', '.join(MUTANTS)}")
    methods = set(args.methods.split(",")) if args.methods else None
    seeds = set(range(CANDIDATE_SEEDS))
    unchanged = compare(args.reference, candidate, RESULTS_PROFILE, settings, seeds)
    columns = {"unchanged": unchanged}
    notes, minutes = {}, {}
    scratch = Path(args.scratch) if args.scratch else Path(tempfile.mkdtemp(prefix="mutants-"))
    for name in names:
        print(f"[mutant] {name}: {MUTANTS[name].description}", flush=True)
        mutated, minutes[name] = mutate(name, candidate, work, methods, scratch)
        columns[name] = compare(args.reference, mutated, RESULTS_PROFILE, settings, seeds)
        notes[name] = changed_runs(candidate, mutated)
        print(f"[mutant] {name}: {'caught' if not columns[name].passed else 'NOT caught'} "
              f"({minutes[name] or 0:.1f} min, {notes[name]} scores changed)", flush=True)
    ok = unchanged.passed and all(not columns[n].passed for n in names)
    return render_matrix(columns, notes, methods), ok


def render_matrix(columns: dict[str, Comparison], changed: dict[str, int], methods: set[str] | None) -> str:
    cells = {name: check_cells(c) for name, c in columns.items()}
    rows = list(cells["unchanged"])
    head = ["primary check", "band", "mde", *columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        _, band, mde = cells["unchanged"][row]
        values = [_cell(*cells[name][row]) for name in columns]
        lines.append(f"| {row} | ±{band:.2f} | {mde:.2f} | " + " | ".join(values) + " |")
    verdicts = ["**caught**" if not c.passed else "passes" for c in columns.values()]
    verdicts[0] = "passes (as it must)" if columns["unchanged"].passed else "**false alarm**"
    lines.append("| verdict | | | " + " | ".join(verdicts) + " |")
    summary = ["", "| mutant | part | what it breaks | methods rerun | scores changed | primary checks outside |",
               "|---|---|---|---|---|---|"]
    for name, comparison in columns.items():
        if name == "unchanged":
            continue
        mutant = MUTANTS[name]
        rerun = [m for m in mutant.retrains if methods is None or m in methods]
        outside = sum(not c.ok for c in comparison.primary)
        summary.append(f"| {name} | {mutant.part} | {mutant.description} | {', '.join(rerun)} | {changed[name]} | "
                       f"{outside} of {len(comparison.primary)} |")
    mode = regression.comparison_mode(columns["unchanged"])
    return "\n".join([f"Compared {mode}.", "", "Cells: the candidate's mean minus the reference mean; ✗ outside the band.",
                      "", *lines, *summary])


def _cell(delta: float | None, band: float, mde: float) -> str:
    if delta is None:
        return "missing ✗"
    return f"{delta:+.2f}" + (" ✗" if abs(delta) > band else "")


def false_alarms(args) -> tuple[str, bool]:
    """Unchanged candidates, each world compared on every choice of 3 of its seeds. Leave one world out
    (the default): every reference world and every ``--held-out`` root in turn, against all the others.
    ``--fresh``: each root against the reference alone (worlds that did not exist when the checks were
    declared)."""
    settings = load_settings(args.settings)
    reference = reference_roots(args.reference)
    if args.fresh:
        against = [w for w in reference if not args.fresh_against or w.name in args.fresh_against.split(",")]
        trials_of = [(Path(p), against) for p in args.fresh]
    elif args.within:
        trials_of = [(world, reference) for world in reference]
    else:
        worlds = [*reference, *(Path(p) for p in args.held_out or [])]
        trials_of = [(world, [w for w in worlds if w != world]) for world in worlds]
    lines = ["| candidate's world | reference worlds | compared | seed sets | false alarms | checks that failed |",
             "|---|---|---|---|---|---|"]
    trials = failures = worlds_alarmed = 0
    for held_out, others in trials_of:
        failed_checks: dict[str, int] = {}
        combos = list(itertools.combinations(seeds_of(held_out), CANDIDATE_SEEDS))
        alarms, modes = 0, set()
        for combo in combos:
            comparison = compare(args.reference, held_out, RESULTS_PROFILE, settings, set(combo), others)
            modes.add(f"within {comparison.same_world}" if comparison.same_world else "across worlds")
            bad = [label(c) for c in comparison.primary if not c.ok]
            alarms += bool(bad)
            for name in bad:
                failed_checks[name] = failed_checks.get(name, 0) + 1
        trials += len(combos)
        failures += alarms
        worlds_alarmed += bool(alarms)
        described = ", ".join(f"{k} ({v})" for k, v in sorted(failed_checks.items())) or "none"
        names = ", ".join(w.name for w in others)
        lines.append(f"| {held_out.name} ({held_out}) | {names} | {', '.join(sorted(modes))} | {len(combos)} | {alarms} | "
                     f"{described} |")
    rate = failures / trials if trials else 0.0
    lines += ["", f"False-alarm rate: {failures} of {trials} unchanged candidates ({rate:.1%}) failed a primary "
                  f"check; declared family rate {settings.false_alarm_rate:.0%}. Seed sets of one world share it, "
                  f"so the {trials} trials are {len(trials_of)} independent draws of a world, not {trials} "
                  f"({worlds_alarmed} of them had a false alarm in some seed set)."]
    return "\n".join(lines), rate <= settings.false_alarm_rate


def detectable(args) -> str:
    """Each primary check's band and minimum detectable effect beside the effects it guards: the
    smoke reference's mean, and the same difference in the mini profile's own tables (results/mini).
    A check of a method's own score guards its change over base: that change is shown beside it."""
    settings = load_settings(args.settings)
    candidate = Path(args.candidate)
    comparison = compare(args.reference, candidate, RESULTS_PROFILE, settings, set(range(CANDIDATE_SEEDS)))
    smoke = {(c.model, c.method, c.benchmark, c.kind): c for c in comparison.checks}
    mini = regression.quantities(regression.read_values(REPO / "results", RESULTS_PROFILE), settings.versus)
    lines = ["| primary check | smoke effect (reference mean ± sd) | band | mde (80% power) | mini tables' effect |",
             "|---|---|---|---|---|"]
    for check in comparison.primary:
        kind = regression.BASE_DELTA if check.kind == regression.SCORE else check.kind
        effect = smoke[(check.model, check.method, check.benchmark, kind)]
        values = mini.get((check.model, check.method, check.benchmark, kind), [])
        mini_effect = f"{sum(values) / len(values):+.2f} (n={len(values)})" if values else "not in results/mini"
        guarded = "" if kind == check.kind else f" (its {kind})"
        lines.append(f"| {label(check)} | {effect.reference_mean:+.2f} ± {effect.reference_sd:.2f}{guarded} | "
                     f"±{check.band:.2f} | {check.mde:.2f} | {mini_effect}{guarded} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["matrix", "false-alarms", "all"])
    parser.add_argument("--reference", default=str(REPO / "results" / "smoke"))
    parser.add_argument("--candidate", help="results root of the unchanged candidate (matrix)")
    parser.add_argument("--work", help="its work directory (matrix)")
    parser.add_argument("--mutants", help="comma-separated mutants (default: all)")
    parser.add_argument("--methods", help="rerun only these of each mutant's methods (default: all it changes)")
    parser.add_argument("--held-out", nargs="*", help="results roots of world replicates outside the reference")
    parser.add_argument("--fresh", nargs="*",
                        help="false-alarms: compare these world replicates with the reference alone (no leave-one-out)")
    parser.add_argument("--within", action="store_true",
                        help="false-alarms on the same machine: each reference world's seed sets against the "
                             "reference with that world in it (compared within it, against its other seeds)")
    parser.add_argument("--fresh-against", help="with --fresh: only these of the reference's worlds (e.g. world1,world2)")
    parser.add_argument("--scratch", help="keep the mutants' reproductions here; a rerun resumes and reuses them")
    parser.add_argument("--settings", help="a regression YAML file (default configs/regression.yaml)")
    parser.add_argument("--out", help="write the Markdown report here")
    parser.add_argument("--require-caught", action="store_true",
                        help="exit 1 unless every mutant is caught, the unchanged candidate passes and (false-alarms) "
                             "the false-alarm rate is at most the declared one")
    args = parser.parse_args(argv)
    if args.what in ("matrix", "all") and not (args.candidate and args.work):
        parser.error("matrix needs --candidate and --work")
    sections, ok = [], True
    if args.what == "false-alarms":
        text, ok = false_alarms(args)
        sections += ["## False alarms of unchanged candidates", "", text, ""]
    if args.what == "all":  # the same machine (what CI's check decides on), then another machine's worlds
        args.within = True
        text, ok = false_alarms(args)
        sections += ["## False alarms of unchanged candidates on the machine kind of the reference", "", text, ""]
        args.within, args.held_out = False, args.held_out or []
        text, _ = false_alarms(args)
        sections += ["## False alarms of unchanged candidates from other worlds (another kind of CPU; reported, "
                     "not declared)", "", text, ""]
    if args.what in ("matrix", "all"):
        text, caught = matrix(args)
        ok = ok and caught
        sections += ["## Detection matrix", "", text, ""]
        sections += ["## Minimum detectable effects", "", detectable(args), ""]
    from aspo_repro.provenance import cpu_model, git_revision

    command = " ".join(["python .ci/regression_power.py", *(argv if argv is not None else sys.argv[1:])])
    header = (f"<!-- Generated by `{command}` at git {git_revision(REPO)} on {cpu_model()}. "
              "Do not edit: regenerate. -->")
    report = "\n".join([header, "", *sections])
    print(report)
    if args.out:
        Path(args.out).write_text(report + "\n")
    print(json.dumps({"as_declared": ok}))  # every mutant caught, the unchanged candidate passing, false alarms <= declared
    return 1 if args.require_caught and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
