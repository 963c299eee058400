"""A stand-in of the paper's GPT judge: a real OpenAI-compatible chat-completions server on localhost.

The judged benchmarks talk to it over HTTP exactly as they would to OpenAI, so each judge
client, its prompt, its parser and its retries run for real, with no network:

- lmms-eval 0.7.3's ``mmvet`` and ``llava_in_the_wild`` (``lmms_eval.llm_judge``'s OpenAI
  provider: the ``openai`` SDK at ``OPENAI_API_URL`` as a *base* URL);
- lmms-eval 0.7.3's MMBench GPT answer extraction (``MMBench_Evaluator``: ``requests.post`` to
  ``OPENAI_API_URL`` as the *full* chat-completions endpoint);
- the project's SHR judge (``aspo_repro.evaluation.shr.OpenAIJudge.from_env``: the ``openai`` SDK
  at ``OPENAI_BASE_URL``, model ``ASPO_SHR_JUDGE_MODEL``).

It answers exactly the paths an OpenAI-compatible server answers (the HTTP side:
``openai_http.py``). :meth:`JudgeServer.environment` names it as the judges' server is named to the
evaluation, by its base URL (``OPENAI_BASE_URL``) and key; the evaluation sets ``OPENAI_API_URL``
from the base URL in the form each lmms-eval judge client reads (``aspo_repro.evaluation.judging``).

Replies are deterministic (a hash of the request's messages) and shaped for the judge that asks,
recognised from its prompt (``judge_replies.py``). This module is the server: its lifecycle, its
address as the judges read it, the record of the requests it answered. Faults can be
queued (:meth:`JudgeServer.inject`) to exercise the clients' retries.

    with JudgeServer() as server:
        os.environ.update(server.environment())
        ...  # run the judged benchmarks

or, for a separate process: ``python -m aspo_repro.rehearsal.judge_server --port 8765``; one
server shared by every evaluation of a process: ``servers.shared_judge_server``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from aspo_repro.rehearsal.judge_replies import (
    GENERAL,
    JUDGES,
    JudgeKind,
    judge_kind,
    prompt_text,
    reply_for,
    request_seed,
)
from aspo_repro.rehearsal.openai_http import CHAT_COMPLETIONS_PATH, ChatCompletionsHTTPServer

DEFAULT_MODEL = "rehearsal-judge"
DEFAULT_API_KEY = "rehearsal-key"
DEFAULT_HOST = "127.0.0.1"


def _tokens(text: str) -> int:
    return len(text.split())


@dataclass(frozen=True)
class JudgedRequest:
    """One request the server answered (or refused), in arrival order."""

    path: str
    status: int
    kind: str | None  # the judge kind recognised; None for a refused request
    model: str | None  # the model the client asked for
    prompt: str
    reply: str  # the content replied, or the error message
    fault: str | None = None  # the injected fault that answered it, if any


FAULTS = ("garbage", "empty", 400, 429, 500, 503)
GARBAGE_REPLY = "(the rehearsal judge's injected unparsable reply)"


# ----------------------------------------------------------------------------- the server

class JudgeServer:
    """An OpenAI-compatible chat-completions server on localhost, in a daemon thread.

    ``with JudgeServer(port=0) as server:`` -- ``server.base_url`` (``http://127.0.0.1:PORT/v1``),
    ``server.model``, ``server.api_key``, ``server.requests`` (a snapshot of the log),
    ``server.environment()`` (the variables that point every judge client at it).
    ``api_key=None`` accepts any key; otherwise requests must carry ``Bearer <api_key>``.
    ``judges`` answers each judge kind (default :data:`JUDGES`, replies that mean nothing).
    """

    def __init__(self, port: int = 0, host: str = DEFAULT_HOST, model: str = DEFAULT_MODEL,
                 api_key: str | None = DEFAULT_API_KEY, judges: dict[str, JudgeKind] | None = None):
        self.host, self.model, self.api_key = host, model, api_key
        self.judges = judges or JUDGES
        self._requested_port = port
        self._lock = threading.Lock()
        self._log: list[JudgedRequest] = []
        self._faults: dict[str | None, deque] = {}
        self._httpd: ChatCompletionsHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    def start(self) -> JudgeServer:
        if self._httpd is not None:
            return self
        self._httpd = ChatCompletionsHTTPServer((self.host, self._requested_port), self)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"judge-server:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> JudgeServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- addresses
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the judge server is not running")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI SDK's base URL (``.../v1``)."""
        return f"{self.url}/v1"

    @property
    def chat_completions_url(self) -> str:
        """The full chat-completions endpoint."""
        return self.url + CHAT_COMPLETIONS_PATH

    def environment(self) -> dict[str, str]:
        """Environment variables that name this server as the judges' server, as a real one is named:
        its base URL and key (the evaluation makes lmms-eval's OPENAI_API_URL from them), the model.

        lmms-eval 0.7.3 reads API_TYPE and MODEL_VERSION when its task modules are imported.
        """
        local = "127.0.0.1,localhost"
        no_proxy = ",".join(p for p in (os.environ.get("NO_PROXY") or os.environ.get("no_proxy"), local) if p)
        key = self.api_key or DEFAULT_API_KEY
        return {
            # lmms-eval 0.7.3 (mmvet, llava_in_the_wild, mmbench_*)
            "API_TYPE": "openai",
            "MODEL_VERSION": self.model,
            "OPENAI_API_KEY": key,
            # the judges' server (the openai SDK's variable; the SHR judge's; lmms-eval's through judging.py)
            "OPENAI_BASE_URL": self.base_url,
            "ASPO_SHR_JUDGE_MODEL": self.model,
            # never send localhost through a proxy
            "NO_PROXY": no_proxy,
            "no_proxy": no_proxy,
        }

    # -- log and faults
    @property
    def requests(self) -> list[JudgedRequest]:
        """A snapshot of the chat-completion requests received, in order (thread-safe)."""
        with self._lock:
            return list(self._log)

    def requests_of(self, kind: str) -> list[JudgedRequest]:
        return [r for r in self.requests if r.kind == kind]

    def clear(self) -> None:
        with self._lock:
            self._log.clear()
            self._faults.clear()

    def inject(self, *faults: str | int, kind: str | None = None) -> None:
        """Answer the next chat-completion requests (of ``kind``, or any) with these faults, in
        order: ``"garbage"`` (200, an unparsable reply), ``"empty"`` (200, empty content), or an
        HTTP status 400/429/500/503 (an OpenAI-style error; 429/5xx carry ``retry-after-ms: 1``)."""
        for fault in faults:
            if fault not in FAULTS:
                raise ValueError(f"unknown fault {fault!r}; known: {FAULTS}")
        if kind is not None and kind not in JUDGES and kind != GENERAL:
            raise ValueError(f"unknown judge kind {kind!r}; known: {[*JUDGES, GENERAL]}")
        with self._lock:
            self._faults.setdefault(kind, deque()).extend(faults)

    def _take_fault(self, kind: str) -> str | int | None:
        with self._lock:
            for key in (kind, None):
                queue = self._faults.get(key)
                if queue:
                    return queue.popleft()
        return None

    def _record(self, entry: JudgedRequest) -> None:
        with self._lock:
            self._log.append(entry)

    # -- answering
    def refused(self, path: str, status: int, message: str) -> None:
        self._record(JudgedRequest(path, status, None, None, "", message))

    def chat_completion(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any] | str]:
        """(200, the chat.completion object) for a validated request, or the injected fault's
        (status, message); either recorded."""
        prompt = prompt_text(body["messages"])
        kind = judge_kind(prompt)
        fault = self._take_fault(kind)
        if isinstance(fault, int):
            message = f"injected fault: HTTP {fault}"
            self._record(JudgedRequest(path, fault, kind, body["model"], prompt, message, str(fault)))
            return fault, message
        payload = self.completion(body)
        if fault is not None:
            content = GARBAGE_REPLY if fault == "garbage" else ""
            for choice in payload["choices"]:
                choice["message"]["content"] = content
        content = payload["choices"][0]["message"]["content"]
        self._record(JudgedRequest(path, 200, kind, body["model"], prompt, content, fault))
        return 200, payload

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        """The chat.completion object for a validated request (no fault)."""
        messages = body["messages"]
        prompt = prompt_text(messages)
        choices, completion_tokens = [], 0
        for index in range(body.get("n", 1)):
            _kind, content = reply_for(messages, index, self.judges)
            completion_tokens += _tokens(content)
            choices.append({"index": index, "message": {"role": "assistant", "content": content, "refusal": None},
                            "logprobs": None, "finish_reason": "stop"})
        prompt_tokens = _tokens(prompt)
        return {
            "id": f"chatcmpl-rehearsal-{request_seed(messages):016x}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "system_fingerprint": "rehearsal",
            "choices": choices,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }


# ----------------------------------------------------------------------------- command line

def environment_lines(server: JudgeServer) -> list[str]:
    return [f"export {name}={shlex.quote(value)}" for name, value in server.environment().items()]


def serve_forever(port: int = 0, host: str = DEFAULT_HOST, model: str = DEFAULT_MODEL,
                  api_key: str | None = DEFAULT_API_KEY, out=None) -> None:
    """Serve until interrupted, first printing the ``export`` lines that point the judges here."""
    out = out or sys.stdout
    with JudgeServer(port=port, host=host, model=model, api_key=api_key) as server:
        print(f"# rehearsal judge {server.model!r} at {server.base_url}; paste these lines into your shell:",
              file=out)
        for line in environment_lines(server):
            print(line, file=out)
        out.flush()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aspo_repro.rehearsal.judge_server",
                                     description="A deterministic OpenAI-compatible judge on localhost.")
    parser.add_argument("--port", type=int, default=0, help="port (0: a free one, printed)")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="the model name the server reports")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="the key clients must send ('' accepts any)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error("--port must lie in 0-65535")
    try:
        serve_forever(args.port, args.host, args.model, args.api_key or None)
    except OSError as error:
        print(f"error: cannot serve on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
