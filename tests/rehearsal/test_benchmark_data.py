"""The stand-in hub datasets load as the hub's and run lmms-eval 0.7.3's own tasks unchanged.

Every task is loaded as the project loads it (a TaskManager with lmms-eval's tasks and
``get_task_dict`` on task-config overrides); rule-scored tasks are scored through their own
``process_results`` and aggregation and checked against the answers written; GPT-judged tasks
are only loaded, shown and prompted (no judge is called). POPE, GQA and ScienceQA also run
through ``simple_evaluate`` with a model that gives fixed answers.
"""

from __future__ import annotations

import argparse
import os

import pytest
from PIL import Image, ImageDraw

from aspo_repro.evaluation.local_datasets import dataset_of_task, task_dataset_overrides
from aspo_repro.evaluation.metrics import ROTATION_OFFSET
from aspo_repro.rehearsal import benchmark_data as bd
from aspo_repro.rehearsal.hub_schemas import POPE_CATEGORIES, SCHEMAS
from aspo_repro.rehearsal.hub_writer import STAMP

ROWS = 6
TASKS = ("pope_random", "pope_pop", "pope_adv", "gqa", "scienceqa_img", "seedbench",
         "mmbench_en_dev", "mmbench_en_test", "mmbench_cn_dev", "mmvet", "llava_in_the_wild")


def make_images() -> list[Image.Image]:
    images = []
    for i, size in enumerate(((64, 48), (40, 40), (30, 50)), start=1):
        image = Image.new("RGB", size, (40 * i, 200 - 50 * i, 90))
        ImageDraw.Draw(image).rectangle((4, 4, 4 + 6 * i, 4 + 5 * i), fill=(250, 250, 250))
        images.append(image)
    return images


@pytest.fixture(scope="module")
def images():
    return make_images()


@pytest.fixture(scope="module", autouse=True)
def environment(tmp_path_factory):
    """Datasets caches under tmp (lmms-eval's loads and gqa_process_docs' own one), and an
    OpenAI key, as mmvet/utils.py builds its judge client when imported (it is never called)."""
    import datasets

    cache = tmp_path_factory.mktemp("hf_datasets_cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LMMS_EVAL_DATASETS_CACHE", str(cache))
        patch.setattr(datasets.config, "HF_DATASETS_CACHE", str(cache))
        patch.setenv("OPENAI_API_KEY", os.environ.get("OPENAI_API_KEY") or "sk-not-used")
        yield


@pytest.fixture(scope="module")
def dirs(tmp_path_factory, images):
    return bd.write_benchmark_datasets(tmp_path_factory.mktemp("hub"), images, rows=ROWS, seed=3)


@pytest.fixture(scope="module")
def manager():
    from lmms_eval.tasks import TaskManager

    return TaskManager(verbosity="WARNING", include_defaults=True)


@pytest.fixture(scope="module")
def tasks(manager, dirs):
    from lmms_eval.tasks import get_task_dict

    return get_task_dict(task_dataset_overrides(dirs, TASKS), manager)


@pytest.fixture
def no_judge(monkeypatch):
    """MMBench's GPT answer extraction fails the test if it is reached."""
    from lmms_eval.tasks.mmbench.mmbench_evals import MMBench_Evaluator

    def judge(*args, **kwargs):
        raise AssertionError("MMBench's GPT judge was called")

    monkeypatch.setattr(MMBench_Evaluator, "get_chat_response", judge)


def score(task, docs, answers, metric, **aggregation_kwargs):
    """The task's aggregated ``metric`` over its own process_results of ``answers``."""
    results = [task.process_results(doc, [answer])[metric] for doc, answer in zip(docs, answers, strict=True)]
    return task.aggregation()[metric](results, **aggregation_kwargs)


# ----------------------------------------------------------------------------- the files

def test_every_config_loads_with_its_splits_and_features(dirs):
    import datasets

    for dataset in bd.DATASETS:
        directory = dirs[dataset.hub_id]
        assert directory == directory.parents[1] / dataset.hub_id
        assert (directory / "README.md").read_text().startswith("---\ndataset_info:")
        for config in dataset.configs:
            loaded = datasets.load_dataset(str(directory), name=config.name)
            assert tuple(loaded) == config.splits, (dataset.hub_id, config.name)
            for split in config.splits:
                assert (directory / config.folder / f"{split}-00000-of-00001.parquet").is_file()
                assert loaded[split].features == config.features()
                assert len(loaded[split]) > 0


def test_images_are_stored_as_the_hub_stores_them(dirs, images):
    import datasets

    pope = datasets.load_dataset(str(dirs["lmms-lab-encoder/POPE"]), name="Full", split="random")
    raw = pope.cast_column("image", datasets.Image(decode=False))[0]["image"]
    assert raw["bytes"][:3] == b"\xff\xd8\xff" and raw["path"] is None  # JPEG bytes in the Image() struct
    assert pope[0]["image"].size == images[0].size
    sqa = datasets.load_dataset(str(dirs["lmms-lab-encoder/ScienceQA"]), name="ScienceQA-IMG", split="test")
    assert sqa.cast_column("image", datasets.Image(decode=False))[0]["image"]["bytes"][:4] == b"\x89PNG"
    seed = datasets.load_dataset(str(dirs["lmms-lab-encoder/SEED-Bench"]), split="test")
    assert [image.size for image in seed[1]["image"]] == [images[1].size]  # a list of images
    default = datasets.load_dataset(str(dirs["lmms-lab-encoder/POPE"]), split="test")  # the default config
    assert sorted(set(default["category"])) == list(POPE_CATEGORIES) and len(default) == 3 * ROWS


def test_a_second_call_keeps_complete_datasets_and_other_arguments_rewrite(tmp_path, images):
    first = bd.write_benchmark_datasets(tmp_path, images, rows=2, seed=1)
    readme = first["lmms-lab-encoder/MMVet"] / "README.md"
    stamp = readme.stat().st_mtime_ns
    assert bd.write_benchmark_datasets(tmp_path, images, rows=2, seed=1) == first
    assert readme.stat().st_mtime_ns == stamp
    parquet = first["lmms-lab-encoder/MMVet"] / "data" / "test-00000-of-00001.parquet"
    before = parquet.read_bytes()
    bd.write_benchmark_datasets(tmp_path, images, rows=2, seed=2)
    assert parquet.read_bytes() != before
    again = bd.write_benchmark_datasets(tmp_path / "elsewhere", images, rows=2, seed=1)
    assert (again["lmms-lab-encoder/MMVet"] / "data" / "test-00000-of-00001.parquet").read_bytes() == before
    assert not [p for p in tmp_path.rglob(".*") if p.name != STAMP]  # no temporaries left


def test_lmms_eval_yamls_name_these_hub_ids_configs_and_splits(manager):
    for task in TASKS:
        config = manager._get_config(task)  # the YAML with its include templates resolved
        hub_id = dataset_of_task(task).hub_id
        assert config["dataset_path"] == hub_id, task
        [named] = [c for c in SCHEMAS[hub_id] if c.name == config.get("dataset_name", "default")]
        assert config["test_split"] in named.splits, task


# ----------------------------------------------------------------------------- lmms-eval's tasks

@pytest.mark.parametrize("name", TASKS)
def test_each_task_loads_its_rows_shows_images_and_prompts(tasks, images, name):
    task = tasks[name]
    docs = list(task.test_docs())
    questions = {doc["index"] % ROTATION_OFFSET for doc in docs} if name.startswith("mmbench") else docs
    assert len(questions) == ROWS
    sizes = {image.size for image in images}
    for doc in docs:
        visuals = task.doc_to_visual(doc)
        assert visuals and all(isinstance(v, Image.Image) and v.size in sizes for v in visuals)
        prompt = task.doc_to_text(doc)
        assert isinstance(prompt, str) and doc["question"] in prompt


def test_pope_scores_yes_answers_against_the_answer_column(tasks):
    for name in ("pope_random", "pope_pop", "pope_adv"):
        task = tasks[name]
        docs = list(task.test_docs())
        yes = sum(doc["answer"] == "yes" for doc in docs) / len(docs)
        assert 0 < yes < 1
        assert score(task, docs, ["Yes"] * len(docs), "pope_accuracy") == pytest.approx(yes)
        assert score(task, docs, ["yes"] * len(docs), "pope_precision") == pytest.approx(yes)
        assert score(task, docs, ["yes"] * len(docs), "pope_recall") == 1.0
        assert score(task, docs, [d["answer"] for d in docs], "pope_f1_score") == 1.0


def test_gqa_joins_its_images_and_scores_exact_match(tasks, dirs):
    import datasets

    task = tasks["gqa"]
    docs = list(task.test_docs())
    images = datasets.load_dataset(str(dirs["lmms-lab-encoder/GQA"]), "testdev_balanced_images", split="testdev")
    by_id = {row["id"]: row["image"].size for row in images}
    assert [task.doc_to_visual(doc)[0].size for doc in docs] == [by_id[doc["imageId"]] for doc in docs]
    answers = [doc["answer"] for doc in docs]
    assert score(task, docs, ["wrong"] + answers[1:], "exact_match") == pytest.approx((ROWS - 1) / ROWS)
    yes = sum(answer == "yes" for answer in answers) / ROWS
    assert score(task, docs, ["Yes."] * ROWS, "exact_match") == pytest.approx(yes)  # case and punctuation ignored


def test_scienceqa_scores_letters_against_the_answer_index(tasks):
    task = tasks["scienceqa_img"]
    docs = list(task.test_docs())
    first = sum(doc["answer"] == 0 for doc in docs) / ROWS
    assert score(task, docs, ["A"] * ROWS, "exact_match") == pytest.approx(first)
    second = sum(doc["answer"] == 1 for doc in docs) / ROWS
    assert score(task, docs, ["B. something"] * ROWS, "exact_match") == pytest.approx(second)
    assert first + second > 0


def test_seedbench_scores_image_questions(tasks):
    task = tasks["seedbench"]
    docs = list(task.test_docs())
    assert {doc["data_type"] for doc in docs} == {"image"}
    share = sum(doc["answer"] == "A" for doc in docs) / ROWS
    assert 0 < share < 1
    assert score(task, docs, ["A"] * ROWS, "seed_image") == pytest.approx(share)
    assert score(task, docs, ["A. bus"] * ROWS, "seed_all") == pytest.approx(share)


@pytest.mark.parametrize("name", ["mmbench_en_dev", "mmbench_cn_dev"])
def test_mmbench_dev_is_circular_accuracy_by_rule_when_answers_are_letters(tasks, tmp_path, no_judge, name):
    task = tasks[name]
    docs = list(task.test_docs())
    questions = {doc["index"] % ROTATION_OFFSET for doc in docs}
    assert len(questions) == ROWS and len(docs) > ROWS  # every question with its rotations
    answers = [doc["answer"] for doc in docs]
    wrong_rotation = next(i for i, doc in enumerate(docs) if doc["index"] >= ROTATION_OFFSET)
    answers[wrong_rotation] = next(c for c in "ABCD" if c != answers[wrong_rotation] and docs[wrong_rotation][c])
    args = argparse.Namespace(output_path=str(tmp_path))
    assert score(task, docs, answers, "gpt_eval_score", args=args) == pytest.approx(100 * (ROWS - 1) / ROWS)


def test_mmbench_test_writes_its_submission_file(tasks, tmp_path):
    import pandas as pd

    task = tasks["mmbench_en_test"]
    docs = list(task.test_docs())
    assert {doc["answer"] for doc in docs} == {None} and {doc["split"] for doc in docs} == {"test"}
    score(task, docs, ["A"] * len(docs), "submission", args=argparse.Namespace(output_path=str(tmp_path)))
    submission = pd.read_excel(tmp_path / "submissions" / "mmbench_en_test_results.xlsx")
    assert len(submission) == len(docs) and set(submission["prediction"]) == {"A"}


# ----------------------------------------------------------------------------- the whole path

class FixedAnswers:
    """Builds an lmms-eval model answering every question of a task with one fixed answer."""

    @staticmethod
    def model(answers: dict[str, str]):
        from lmms_eval.api.model import lmms

        class Fixed(lmms):
            def __init__(self):
                super().__init__()
                self.images: dict[str, int] = {}

            def generate_until(self, requests):
                replies = []
                for request in requests:
                    _context, _kwargs, doc_to_visual, doc_id, task, split = request.args
                    visuals = doc_to_visual(self.task_dict[task][split][doc_id])
                    assert all(isinstance(v, Image.Image) for v in visuals)
                    self.images[task] = self.images.get(task, 0) + len(visuals)
                    replies.append(answers[task])
                return replies

            def loglikelihood(self, requests):
                raise AssertionError("these tasks only generate")

            def generate_until_multi_round(self, requests):
                raise AssertionError("these tasks only generate")

        return Fixed()


def test_simple_evaluate_runs_pope_gqa_and_scienceqa_on_the_copies(manager, dirs, tmp_path):
    from lmms_eval.evaluator import simple_evaluate
    from lmms_eval.tasks import get_task_dict

    from aspo_repro.evaluation.runner import PAPER_SCORING_THREADS

    names = ["pope_random", "pope_pop", "pope_adv", "gqa", "scienceqa_img"]
    loaded = get_task_dict(task_dataset_overrides(dirs, names), manager)
    limit = 4
    gqa_docs = list(loaded["gqa"].test_docs())[:limit]
    gqa_answer = gqa_docs[0]["answer"]
    answers = {"pope_random": "Yes", "pope_pop": "Yes", "pope_adv": "Yes", "gqa": gqa_answer, "scienceqa_img": "A"}
    model = FixedAnswers.model(answers)
    output = simple_evaluate(
        model=model, tasks=list(loaded.values()), task_manager=manager, log_samples=True, verbosity="WARNING",
        limit=limit, cli_args=argparse.Namespace(output_path=str(tmp_path), process_with_media=False),
        process_docs_parallel=PAPER_SCORING_THREADS,
    )
    results = output["results"]
    assert model.images == dict.fromkeys(names, limit)
    for name in ("pope_random", "pope_pop", "pope_adv"):
        docs = list(loaded[name].test_docs())[:limit]
        yes = sum(doc["answer"] == "yes" for doc in docs) / limit
        assert results[name]["pope_accuracy,none"] == pytest.approx(yes)
        assert results[name]["pope_recall,none"] == 1.0
    gqa_right = sum(d["answer"] == gqa_answer for d in gqa_docs) / limit
    assert results["gqa"]["exact_match,none"] == pytest.approx(gqa_right) and gqa_right > 0
    sqa_docs = list(loaded["scienceqa_img"].test_docs())[:limit]
    assert results["scienceqa_img"]["exact_match,none"] == pytest.approx(sum(d["answer"] == 0 for d in sqa_docs) / limit)
    assert len(output["samples"]["scienceqa_img"]) == limit
    print({name: {k: v for k, v in results[name].items() if "stderr" not in k} for name in names})
