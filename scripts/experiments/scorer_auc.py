"""Within-answer AUC of ASPO's weights (S, P, S+P) against the exact judge, for several scorers.

``prefs diagnose``'s measurement (``data.diagnostics.diagnose``), run once per scorer on the same
preference data: each scorer rescores the chosen sentences, P comes from the base model that
generated the data (its world's). The oracle's weights (the judge's verdicts, ``aspo-oracle``) put
every correct sentence above every hallucinated one: its AUC is 1 by construction.

    OMP_NUM_THREADS=1 python scripts/experiments/scorer_auc.py --prefs DIR --scorer judge-trained=WORLD/scorer \
        --scorer captions=CAPTION_DIR --out /tmp/helperC/auc.json [--world-root WORLD]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from aspo_repro.clip_scorer import ClipScorer
from aspo_repro.data import diagnostics
from aspo_repro.data.diagnostics import diagnose
from aspo_repro.miniworld.build import World
from aspo_repro.miniworld.config import world_config
from aspo_repro.miniworld.grammar import parse_sentence
from aspo_repro.miniworld.obtain import recorded_world
from aspo_repro.storage import atomic_write_json


def summary(weights: dict) -> dict:
    """The pooled and within-answer AUCs of raw S and of each weighted method."""
    rows = {"raw S": {"auc": weights["auc_raw_similarity"], "within": weights["auc_within_answer_raw_similarity"]}}
    for method in ("aspo-s", "aspo-p", "aspo"):
        if method in weights:
            rows[method] = {"auc": weights[method]["auc"], "within": weights[method]["auc_within_answer"]}
    return rows


def by_form(prefs: str, world, scorer) -> dict:
    """Raw S's AUC among the chosen sentences of one form (count, object, relation), pooled and within
    answers, and how often each form is hallucinated: whether a scorer ranks within a form or by form."""
    from aspo_repro.training.preferences import open_preferences

    opened = open_preferences(prefs)
    world = world or recorded_world(opened.manifest["settings"]["world"])
    scene_of = diagnostics.scene_lookup(world)
    rows = opened.dataset.remove_columns(["images"]).to_list()
    diagnostics.rescore_chosen(opened.dataset, rows, scorer)
    forms: dict[str, list] = {}
    for index, row in enumerate(rows):
        kinds = [getattr(parse_sentence(row["chosen"][a:b]), "kind", None) for a, b in row["chosen_sentence_spans"]]
        for kind in set(kinds) - {None}:
            keep = [k == kind for k in kinds]
            narrowed = {**row, **{key: [v for v, kept in zip(row[key], keep) if kept]
                                  for key in ("chosen_sentence_spans", "chosen_sentence_similarity")}}
            forms.setdefault(kind, []).extend(diagnostics.chosen_sentences(index, narrowed, scene_of(str(row["id"]))))
    report = {}
    for kind, sentences in sorted(forms.items()):
        wrong = sum(s.hallucinated for s in sentences)
        report[kind] = {"sentences": len(sentences), "hallucinated_share": round(wrong / len(sentences), 4),
                        "auc_raw_S": diagnostics.auc_with_interval(sentences, lambda s: s.similarity),
                        "within_answer_auc_raw_S": diagnostics.within_answer_auc(sentences, lambda s: s.similarity)}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefs", required=True, help="a mini preference dataset")
    parser.add_argument("--scorer", action="append", required=True, help="NAME=open_clip directory")
    parser.add_argument("--world-root", help="the world the data was made in (default: its manifest's, rebuilt "
                                              "or reused by the current code)")
    parser.add_argument("--score-cache", default="/tmp/helperC/clip_scores", help="where similarities are cached")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    world = None
    if args.world_root:
        root = Path(args.world_root)
        size, seed = root.name.split("-")[0], int(root.name.split("-")[1].removeprefix("seed"))
        world = World(root, seed, size, world_config(size))
    report = {"prefs": args.prefs, "world_root": args.world_root, "scorers": {}}
    for name, directory in (item.split("=", 1) for item in args.scorer):
        began = time.perf_counter()
        scorer = ClipScorer.from_dir(directory, cache_dir=args.score_cache)
        diagnosis = diagnose(args.prefs, world, scorer=scorer.score, scorer_name=f"{name}: {directory}")
        report["scorers"][name] = {"checkpoint": directory, "seconds": round(time.perf_counter() - began, 1),
                                   "summary": summary(diagnosis["weights"]), "diagnosis": diagnosis,
                                   "by_form": by_form(args.prefs, world, scorer.score)}
        for method, row in report["scorers"][name]["summary"].items():
            print(f"{name:14} {method:8} pooled {row['auc']['value']} {row['auc']['ci95']}  "
                  f"within {row['within']['value']} {row['within']['ci95']}", flush=True)
        for kind, row in report["scorers"][name]["by_form"].items():
            auc = row["within_answer_auc_raw_S"]
            print(f"{name:14} {kind:8} n={row['sentences']} hallucinated {row['hallucinated_share']}  "
                  f"raw S pooled {row['auc_raw_S']['value']} {row['auc_raw_S']['ci95']}, within answers "
                  f"{auc['value']} {auc['ci95']} ({auc['answers']} answers)", flush=True)
        atomic_write_json(args.out, report)


if __name__ == "__main__":
    main()
