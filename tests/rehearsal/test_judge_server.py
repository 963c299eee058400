"""The rehearsal judge server: real HTTP on localhost, each real judge client against it.

lmms-eval's judged tasks read their environment when their modules are imported (mmvet builds
its client then; MMBench captures the URL and key then) or at their first scored answer
(llava_in_the_wild), and keep it for the life of the process; so they run here in one fresh
subprocess with the server's environment, which also shows they keep what they captured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request

import pytest

from aspo_repro.evaluation import judging, shr
from aspo_repro.evaluation.benchmarks import REGISTRY
from aspo_repro.rehearsal.judge_replies import JUDGES, judge_kind, mmbench_options, reply_for
from aspo_repro.rehearsal.judge_server import DEFAULT_API_KEY, JudgeServer

SHR_DOC = {"id": "42", "regions": "[0.1, 0.2, 0.5, 0.6]: a grey cat\n[0.0, 0.6, 1.0, 1.0]: a red mat\n",
           "factual": "A cat sits on a mat.\n"}
SHR_RESPONSE = "A grey cat sits on a mat. The mat is red. The room feels cosy. A dog sleeps nearby."


@pytest.fixture
def server():
    with JudgeServer(port=0) as running:
        yield running


@pytest.fixture
def judge_env(server, monkeypatch):
    for name, value in server.environment().items():
        monkeypatch.setenv(name, value)
    return server


def _post(url: str, body: bytes, key: str | None = DEFAULT_API_KEY) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# ----------------------------------------------------------------------------- the server itself

def test_environment_points_every_client_at_the_server(server):
    env = server.environment()
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
    assert env["OPENAI_BASE_URL"] == server.base_url  # openai SDK, SHR judge; lmms-eval's through evaluation.judging
    assert "OPENAI_API_URL" not in env  # named as a real server is: by its base URL
    assert env["OPENAI_API_KEY"] == server.api_key
    assert env["MODEL_VERSION"] == env["ASPO_SHR_JUDGE_MODEL"] == server.model == "rehearsal-judge"
    assert env["API_TYPE"] == "openai"
    assert "127.0.0.1" in env["NO_PROXY"]


def test_openai_sdk_round_trip(judge_env):
    import openai

    client = openai.OpenAI(base_url=judge_env.base_url, api_key=os.environ["OPENAI_API_KEY"])
    response = client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "Hello?"}])
    assert response.object == "chat.completion" and response.model == judge_env.model
    assert response.choices[0].message.role == "assistant" and response.choices[0].finish_reason == "stop"
    assert response.choices[0].message.content == reply_for([{"role": "user", "content": "Hello?"}])[1]
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens
    assert [model.id for model in client.models.list()] == [judge_env.model]
    assert [(r.kind, r.model, r.prompt) for r in judge_env.requests] == [("general", "gpt-4", "Hello?")]


def test_only_the_paths_a_real_openai_compatible_server_answers_are_served(server):
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
    assert _post(server.chat_completions_url, body)[0] == 200
    assert server.chat_completions_url == f"{server.base_url}/chat/completions"
    for path in ("/v1/chat/completions/chat/completions", "/v1/v1/chat/completions", "/chat/completions",
                 "/v1/chat/completions/", "/api/v1/chat/completions"):
        status, reply = _post(server.url + path, body)
        assert (status, reply["error"]["code"]) == (404, "unknown_url"), path
    assert [r.path for r in server.requests] == ["/v1/chat/completions"]  # a 404 is never judged

    def get(path):
        request = urllib.request.Request(server.url + path, headers={"Authorization": f"Bearer {server.api_key}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    assert [get(p) for p in ("/v1/models", f"/v1/models/{server.model}", "/health")] == [200, 200, 200]
    assert [get(p) for p in ("/models", "/v1/health", "/v1/v1/models", "/v1/models/other")] == [404] * 4


def test_concurrent_requests_are_all_answered_and_logged(server):
    from concurrent.futures import ThreadPoolExecutor

    import openai

    client = openai.OpenAI(base_url=server.base_url, api_key=server.api_key)

    def ask(i):
        messages = [{"role": "user", "content": f"question {i}"}]
        return client.chat.completions.create(model="m", messages=messages).choices[0].message.content

    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(ask, range(24)))
    assert len(replies) == 24 and all(replies)
    assert sorted(r.prompt for r in server.requests) == sorted(f"question {i}" for i in range(24))


def test_malformed_requests_get_openai_errors_quietly(server, capfd):
    import openai

    url = server.chat_completions_url
    status, body = _post(url, b"{not json")
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    status, body = _post(url, json.dumps({"model": "m", "messages": []}).encode())
    assert (status, body["error"]["param"]) == (400, "messages")
    status, body = _post(url, json.dumps({"model": "m", "messages": [{"role": "user", "content": "x"}],
                                          "temperature": 3}).encode())
    assert (status, body["error"]["param"]) == (400, "temperature")
    status, body = _post(url, json.dumps({"model": "m", "messages": [{"role": "user", "content": "x"}]}).encode(),
                         key="wrong")
    assert (status, body["error"]["code"]) == (401, "invalid_api_key")
    status, body = _post(f"{server.base_url}/completions", b"{}")
    assert status == 404 and "error" in body
    client = openai.OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="m", messages=[{"role": "wizard", "content": "x"}])
    assert [r.status for r in server.requests] == [400, 400, 400, 401, 400]
    assert capfd.readouterr().err == ""  # no per-request logging


def test_replies_are_deterministic_and_shaped_per_judge():
    mmbench = ("You are an AI assistant who will help me to match an answer with several options of a "
               "single-choice question. ...\nExample 3: \nQuestion: Which?\nOptions: There are several options: \n"
               "A. one\nB. two\nC. three\n\nAnswer: hmm\nYour output: ")
    assert mmbench_options(mmbench) == ["A", "B", "C"]
    assert judge_kind(mmbench) == "mmbench" and judge_kind("What is 2 + 2?") == "general"
    messages = [{"role": "user", "content": mmbench}]
    assert reply_for(messages) == reply_for(list(messages)) and reply_for(messages)[1] in "ABC"
    assert set(JUDGES) == {"shr", "mmbench", "mmvet", "llava_w"}


# ----------------------------------------------------------------------------- the project's SHR judge

def test_shr_judge_from_environment_labels_each_sentence_deterministically(judge_env):
    judge = shr.OpenAIJudge.from_env()
    assert (judge.model, judge.base_url) == (judge_env.model, judge_env.base_url)
    first = shr.shr_record(SHR_RESPONSE, SHR_DOC, judge)
    second = shr.shr_record(SHR_RESPONSE, SHR_DOC, judge)
    labels = [label for _, label in first["verdicts"]]
    assert len(labels) == first["sentences"] == 4 and all(label in shr.LABELS for label in labels)
    assert first == second and first["judged"] == 4
    assert first["judge"] == f"{judge_env.model} via {judge_env.base_url}"
    requests = judge_env.requests_of("shr")
    assert len(requests) == 2 and requests[0].path == "/v1/chat/completions"
    assert "[0.1, 0.2, 0.5, 0.6]: a grey cat" in requests[0].prompt and "4. A dog sleeps nearby" in requests[0].prompt


def test_shr_judge_retries_an_unparsable_reply_and_the_sdk_retries_server_errors(judge_env):
    expected = shr.shr_record(SHR_RESPONSE, SHR_DOC, shr.OpenAIJudge.from_env())
    judge_env.clear()
    judge_env.inject(500, "garbage", kind="shr")
    record = shr.shr_record(SHR_RESPONSE, SHR_DOC, shr.OpenAIJudge.from_env())
    assert record == expected
    # the openai SDK retried the 500 itself; OpenAIJudge asked again after the unparsable reply
    assert [(r.status, r.fault) for r in judge_env.requests] == [(500, "500"), (200, "garbage"), (200, None)]


def test_command_line_server_prints_its_environment_and_serves():
    process = subprocess.Popen([sys.executable, "-m", "aspo_repro.rehearsal.judge_server", "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with JudgeServer(port=0) as probe:
            exported = len(probe.environment())
        lines = [process.stdout.readline() for _ in range(1 + exported)]  # a heading, then the exports
        env = dict(line.removeprefix("export ").strip().split("=", 1) for line in lines if line.startswith("export "))
        assert env["ASPO_SHR_JUDGE_MODEL"] == "rehearsal-judge"
        status, body = _post(env["OPENAI_BASE_URL"] + "/chat/completions", json.dumps(
            {"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode(), key=env["OPENAI_API_KEY"])
        assert status == 200 and body["model"] == "rehearsal-judge"
    finally:
        process.terminate()
        process.wait(timeout=10)


# ----------------------------------------------------------------------------- lmms-eval 0.7.3's judges

LMMS_SCRIPT = textwrap.dedent('''
    import importlib, json, os, sys

    # each client is built in the environment the evaluation gives its benchmark (evaluation.judging)
    judged_as = json.loads(sys.argv[2])
    os.environ.update(judged_as["mmvet"])
    import lmms_eval.tasks.mmvet.utils as mmvet
    os.environ.update(judged_as["mmbench_dev"])
    import lmms_eval.tasks.mmbench.en_utils as mmbench_en
    os.environ.update(judged_as["mmbench_cn"])
    import lmms_eval.tasks.mmbench.cn_utils as mmbench_cn
    os.environ.update(judged_as["llava_wild"])
    llava = importlib.import_module("lmms_eval.tasks.llava-in-the-wild.utils")
    out = {"captured": {"mmvet": mmvet.server.base_url, "mmbench_en": mmbench_en.mmbench_evaluator.API_URL,
                        "mmbench_cn": mmbench_cn.mmbench_evaluator.API_URL}}

    llava_doc = {"question_id": 1, "question": "What is on the table?", "gpt_answer": "A red apple and a knife.",
                 "caption": ["A red apple next to a knife on a wooden table."], "category": "conv"}
    first = llava.llava_process_results(llava_doc, ["An apple."])  # builds llava's judge client now
    out["captured"]["llava"] = llava._get_pipeline().verifier._server.base_url

    # From here on the environment lies: every client must keep what it captured.
    for name in ("OPENAI_API_URL", "OPENAI_BASE_URL"):
        os.environ[name] = "http://127.0.0.1:9/nowhere"
    os.environ["OPENAI_API_KEY"] = os.environ["MODEL_VERSION"] = "bogus"

    second = llava.llava_process_results(llava_doc, ["An apple."])
    out["llava"] = {"first": first["gpt_eval_llava_all"], "second": second["gpt_eval_llava_all"],
                    "aggregate": llava.llava_conv_aggregation([first["gpt_eval_llava_conv"]])}

    mmvet_doc = {"question_id": "v1", "question": "What is x in the equation?", "answer": "-1<AND>-5",
                 "capability": "ocr,math"}
    record = mmvet.mmvet_process_results(mmvet_doc, ["x = 3"])["gpt_eval_score"]
    out["mmvet"] = {"record": record, "aggregate": mmvet.mmvet_aggregate_results([record])}

    def mmbench(module, doc, prediction):
        letter, raw = module.mmbench_evaluator.extract_answer_from_item(dict(doc, prediction=prediction))
        processed = module.mmbench_process_results(doc, [prediction])["gpt_eval_score"]
        accuracy = module.mmbench_evaluator.eval_result([processed], eval_method="openai")[0]
        return {"letter": letter, "raw": raw, "accuracy": float(accuracy), "answer": doc["answer"]}

    en = {"index": 0, "question": "What animal is shown?", "answer": "C", "hint": "nan", "source": "rehearsal",
          "split": "dev", "category": "rehearsal", "L2-category": "rehearsal",
          "A": "teddy bear", "B": "rabbit", "C": "cat", "D": "dog"}
    cn = dict(en, question="图中是什么动物？", A="泰迪熊", B="兔子", C="猫", D="狗")
    out["mmbench_en"] = mmbench(mmbench_en, en, "Something small and furry, I would say.")
    out["mmbench_cn"] = mmbench(mmbench_cn, cn, "一种毛茸茸的小动物。")
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        json.dump(out, f, default=str, ensure_ascii=False)
''')


@pytest.fixture(scope="module")
def lmms_run(tmp_path_factory):
    """lmms-eval's own judge code, in a fresh process with the server's environment and, for each
    judged benchmark, what the evaluation sets for its judge client."""
    pytest.importorskip("lmms_eval")
    work = tmp_path_factory.mktemp("lmms_judges")  # cwd: no stray .env for lmms-eval's dotenv to load
    script, result = work / "judges.py", work / "result.json"
    script.write_text(LMMS_SCRIPT, encoding="utf-8")
    with JudgeServer(port=0) as server:
        env = {**os.environ, **server.environment(), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
               "TRANSFORMERS_OFFLINE": "1"}
        env.pop("OPENAI_API_URL", None)
        with judging.environment("OPENAI_BASE_URL", server.base_url):
            judged_as = {name: judging.lmms_judge_environment(REGISTRY[name], None)
                         for name in ("mmvet", "mmbench_dev", "mmbench_cn", "llava_wild")}
        done = subprocess.run([sys.executable, str(script), str(result), json.dumps(judged_as)], cwd=work, env=env,
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-4000:]
        yield server, json.loads(result.read_text(encoding="utf-8"))


def test_lmms_eval_clients_capture_the_server_address(lmms_run):
    server, out = lmms_run
    # llm_judge's provider (mmvet, llava) takes OPENAI_API_URL as the SDK's base URL, MMBench as the endpoint
    assert out["captured"] == {"mmvet": server.base_url, "llava": server.base_url,
                               "mmbench_en": server.chat_completions_url, "mmbench_cn": server.chat_completions_url}
    assert {(r.kind, r.path) for r in server.requests} == {
        ("llava_w", "/v1/chat/completions"), ("mmvet", "/v1/chat/completions"), ("mmbench", "/v1/chat/completions")}
    assert all(r.status == 200 and r.model == server.model for r in server.requests)


def test_lmms_eval_mmvet_gets_a_gpt_score(lmms_run):
    server, out = lmms_run
    [request] = server.requests_of("mmvet")
    assert "to give a correctness score" in request.prompt and request.prompt.endswith("| x = 3 |")
    record = out["mmvet"]["record"]
    assert record["score"] == float(request.reply) and 0.0 <= record["score"] <= 1.0
    assert record["eval_model"] == server.model  # the model the server reported
    assert out["mmvet"]["aggregate"] == pytest.approx(record["score"] * 100)


def test_lmms_eval_llava_in_the_wild_parses_two_scores(lmms_run):
    server, out = lmms_run
    requests = server.requests_of("llava_w")
    assert len(requests) == 2 and requests[0].reply == requests[1].reply  # deterministic
    first, second = out["llava"]["first"], out["llava"]["second"]
    expected = [float(n) for n in requests[0].reply.splitlines()[0].split()]
    assert first["scores"] == second["scores"] == expected and all(1 <= s <= 10 for s in expected)
    assert first["review"] == requests[0].reply and first["eval_model"] == server.model
    assert out["llava"]["aggregate"] == round(expected[1] / expected[0] * 100, 1)


@pytest.mark.parametrize("task", ["mmbench_en", "mmbench_cn"])
def test_lmms_eval_mmbench_extracts_an_offered_letter_by_gpt(lmms_run, task):
    server, out = lmms_run
    result = out[task]
    # once by extract_answer_from_item, once by the circular evaluation of eval_result
    asked = [r for r in server.requests_of("mmbench") if ("猫" in r.prompt) == (task == "mmbench_cn")]
    assert len(asked) == 2 and asked[0].reply == asked[1].reply == result["raw"] == result["letter"]
    assert mmbench_options(asked[0].prompt) == ["A", "B", "C", "D"] and result["letter"] in "ABCD"
    assert result["accuracy"] == float(result["letter"] == result["answer"])
