"""evaluation.excerpt: the first answers of a run, in lmms-eval's schema, enough for the report."""

from aspo_repro.evaluation.excerpt import excerpt, excerpt_dir, write_excerpt
from aspo_repro.files import read_record
from aspo_repro.report.samples import side_by_side
from aspo_repro.results import BenchmarkScore, EvalResult, RunKey
from aspo_repro.storage import atomic_write_json


def sample(doc_id: int, answer: str) -> dict:
    return {"doc_id": doc_id, "doc": {"large": "x" * 500}, "doc_hash": "h", "arguments": [f"Describe {doc_id}.", {"max": 9}],
            "resps": [[answer]], "filtered_resps": [answer], "target": "", "input_media": [f"img{doc_id}.png"],
            "token_counts": [3], "shr": {"verdicts": [[answer, "correct"]], "rate": 0.0},
            "correct_per_image": {"verdicts": [[answer, "correct"]]}}


def output(answer: str, count: int = 100) -> dict:
    return {"results": {"mini_shr": {"shr": 1.0}}, "config": {"big": "y" * 500},
            "samples": {"mini_shr": [sample(i, f"{answer} {i}.") for i in range(count)]}}


def test_an_excerpt_keeps_the_first_answers_and_what_shows_them():
    cut = excerpt(output("A red circle"), per_task=12)
    assert list(cut) == ["samples"] and len(cut["samples"]["mini_shr"]) == 12
    first = cut["samples"]["mini_shr"][0]
    assert first == {"doc_id": 0, "target": "", "input_media": ["img0.png"], "filtered_resps": ["A red circle 0."],
                     "arguments": ["Describe 0."], "shr": {"verdicts": [["A red circle 0.", "correct"]]},
                     "correct_per_image": {"verdicts": [["A red circle 0.", "correct"]]}}


def test_the_report_shows_the_same_items_from_an_excerpt_as_from_the_whole_output(tmp_path):
    runs, whole, cut = {}, {}, {}
    for method, answer in (("base", "A red circle"), ("dpo", "A blue square")):
        run = tmp_path / method / "seed0"
        raw = run / "eval.lmms_eval"
        atomic_write_json(raw / "mini_shr.json", {"fingerprint": {}, "output": output(answer)})
        whole[method] = raw / "mini_shr.json"
        cut[method] = write_excerpt(raw, "mini_shr", read_record(whole[method], "raw")["output"])
        assert cut[method].parent == excerpt_dir(raw)
        result = EvalResult(RunKey("mini", "mini-llava-s", method, 0), {"mini_shr": BenchmarkScore(50.0)})
        runs[method] = (run / "eval.json", result)
    from_whole = side_by_side("mini-llava-s", "mini_shr", whole, runs, 12)
    from_cut = side_by_side("mini-llava-s", "mini_shr", cut, runs, 12)
    assert from_cut.items == from_whole.items and len(from_cut.items) == 12
    assert from_cut.items[3]["answers"]["dpo"]["sentences"] == [{"text": "A blue square 3.", "verdict": "correct"}]
    assert sum(p.stat().st_size for p in cut.values()) < sum(p.stat().st_size for p in whole.values()) / 4

