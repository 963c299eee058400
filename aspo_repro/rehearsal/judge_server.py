"""A stand-in of the paper's GPT judge: a real OpenAI-compatible chat-completions server on localhost.

The judged benchmarks talk to it over HTTP exactly as they would to OpenAI, so each judge
client, its prompt, its parser and its retries run for real, with no network:

- lmms-eval 0.7.3's ``mmvet`` and ``llava_in_the_wild`` (``lmms_eval.llm_judge``'s OpenAI
  provider: the ``openai`` SDK at ``OPENAI_API_URL`` as a *base* URL);
- lmms-eval 0.7.3's MMBench GPT answer extraction (``MMBench_Evaluator``: ``requests.post`` to
  ``OPENAI_API_URL`` as the *full* chat-completions endpoint);
- the project's SHR judge (``aspo_repro.evaluation.shr.OpenAIJudge.from_env``: the ``openai`` SDK
  at ``OPENAI_BASE_URL``, model ``ASPO_SHR_JUDGE_MODEL``).

lmms-eval reads the one variable ``OPENAI_API_URL`` both as a base URL (llm_judge) and as the
full endpoint (MMBench), so :meth:`JudgeServer.environment` sets it to the full endpoint and the
server answers every POST path ending in ``/chat/completions``, including the doubled
``/v1/chat/completions/chat/completions`` that llm_judge's SDK client builds from it.

Replies are deterministic (a hash of the request's messages) and shaped for the judge that asks,
recognised from its prompt (:data:`JUDGES`, one entry per judge kind): MM-Vet gets a correctness
score, LLaVA-W two scores on the first line, MMBench one of the option letters offered, SHR one
``N. label: reason`` line per numbered comment; anything else a fixed sentence. Faults can be
queued (:meth:`JudgeServer.inject`) to exercise the clients' retries.

    with JudgeServer() as server:
        os.environ.update(server.environment())
        ...  # run the judged benchmarks

or, for a separate process: ``python -m aspo_repro.rehearsal.judge_server --port 8765``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_MODEL = "rehearsal-judge"
DEFAULT_API_KEY = "rehearsal-key"
DEFAULT_HOST = "127.0.0.1"
MAX_BODY_BYTES = 64 * 2**20
GENERAL = "general"
GENERAL_REPLY = "This is a fixed reply from the rehearsal judge."
ROLES = ("system", "user", "assistant", "developer", "tool", "function")


# ----------------------------------------------------------------------------- judge kinds

def _seed(*parts: Any) -> int:
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def _is_mmvet(prompt: str) -> bool:
    return "to give a correctness score for the prediction" in prompt


def _mmvet_reply(prompt: str, seed: int) -> str:
    # lmms-eval: float(content.split(" ")[0]) must lie in [0, 1].
    return f"{seed % 11 / 10:.1f}"


def _is_llava_w(prompt: str) -> bool:
    return "[System]" in prompt and re.search(r"\[End of [^\]\n]+ 2\]", prompt) is not None


def _llava_w_reply(prompt: str, seed: int) -> str:
    # lmms-eval: the first two numbers of the first line are the scores of assistants 1 and 2.
    first, second = 1 + seed % 10, 1 + seed // 10 % 10
    return f"{first} {second}\nThe rehearsal judge rates assistant 1 {first} and assistant 2 {second} out of 10."


def _is_mmbench(prompt: str) -> bool:
    return "match an answer with several options of a single-choice question" in prompt


def mmbench_options(prompt: str) -> list[str]:
    """The option letters MMBench's extraction prompt offers for the question being asked (the
    ``X. ...`` lines after its last example header), in order."""
    tail = prompt.rsplit("Example 3:", 1)[-1]
    letters = re.findall(r"^\s*([A-Z])\.\s", tail, re.M)
    return list(dict.fromkeys(letters))


def _mmbench_reply(prompt: str, seed: int) -> str:
    # lmms-eval: can_infer finds exactly one letter; "E" is MMBench's "none of the options".
    letters = mmbench_options(prompt)
    return letters[seed % len(letters)] if letters else "E"


SHR_MARKER = "Judge whether each comment about an image is a hallucination or correct"
SHR_LABELS = ("hallucination", "correct", "cannot judge")


def _is_shr(prompt: str) -> bool:
    return SHR_MARKER in prompt or "hallucination or correct or cannot judge" in prompt


def shr_comments(prompt: str) -> list[str]:
    """The numbered comments SHR's prompt lists, 1, 2, 3... in order, after its last header."""
    marker = "The comments to judge"
    tail = prompt.rsplit(marker, 1)[-1] if marker in prompt else prompt.rsplit("Judgement:", 1)[-1]
    comments: list[str] = []
    for line in tail.splitlines():
        match = re.match(rf"\s*{len(comments) + 1}[.)]\s*(.*)", line)
        if match:
            comments.append(match.group(1).strip())
    return comments


def _shr_reply(prompt: str, seed: int) -> str:
    # shr.parse_judgement: a "Judgement:" line, then one "N. label: reason" line per comment.
    lines = ["Judgement:"]
    for number, _comment in enumerate(shr_comments(prompt), 1):
        label = SHR_LABELS[_seed(seed, number) % len(SHR_LABELS)]
        lines.append(f"{number}. {label}: the rehearsal judge's deterministic verdict on comment {number}.")
    return "\n".join(lines)


@dataclass(frozen=True)
class JudgeKind:
    recognise: Callable[[str], bool]  # the request's prompt text -> whether this judge is asking
    respond: Callable[[str, int], str]  # (prompt text, seed) -> the reply's content


# Tried in order; the first that recognises the prompt answers it. Adding a judge is one entry.
JUDGES: dict[str, JudgeKind] = {
    "shr": JudgeKind(_is_shr, _shr_reply),
    "mmbench": JudgeKind(_is_mmbench, _mmbench_reply),
    "mmvet": JudgeKind(_is_mmvet, _mmvet_reply),
    "llava_w": JudgeKind(_is_llava_w, _llava_w_reply),
}


def judge_kind(prompt: str) -> str:
    return next((kind for kind, judge in JUDGES.items() if judge.recognise(prompt)), GENERAL)


def prompt_text(messages: list[dict[str, Any]]) -> str:
    """All text of the messages, in order (string contents and the text parts of part lists)."""
    pieces = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            pieces.append(content)
        elif isinstance(content, list):
            pieces.extend(part.get("text", "") for part in content
                          if isinstance(part, dict) and part.get("type") == "text")
    return "\n".join(pieces)


def reply_for(messages: list[dict[str, Any]], choice: int = 0,
              judges: dict[str, JudgeKind] | None = None) -> tuple[str, str]:
    """(judge kind, reply content) for a request's messages: deterministic. ``judges`` answers
    each kind (default :data:`JUDGES`; the checkable rehearsal's exact ones: ``exact_judge.py``)."""
    prompt = prompt_text(messages)
    kind = judge_kind(prompt)
    if kind == GENERAL:
        return kind, GENERAL_REPLY
    return kind, (judges or JUDGES)[kind].respond(prompt, _seed(messages, choice))


# ----------------------------------------------------------------------------- requests

class BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


def validate_chat_request(body: Any) -> dict[str, Any]:
    """The request, checked as OpenAI's API checks it; BadRequest otherwise."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("'model' is required and must be a non-empty string", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' is required and must be a non-empty array", "messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise BadRequest(f"messages[{index}] must be an object with a 'role' in {list(ROLES)}", f"messages[{index}]")
        content = message.get("content")
        if not (isinstance(content, str) or (isinstance(content, list) and all(isinstance(p, dict) for p in content))
                or (content is None and message["role"] == "assistant")):
            raise BadRequest(f"messages[{index}].content must be a string or an array of content parts",
                             f"messages[{index}].content")
    temperature = body.get("temperature")
    if temperature is not None and (not _is_number(temperature) or not 0 <= temperature <= 2):
        raise BadRequest("'temperature' must be a number between 0 and 2", "temperature")
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise BadRequest(f"'{name}' must be a positive integer", name)
    n = body.get("n", 1)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 16:
        raise BadRequest("'n' must be an integer between 1 and 16", "n")
    if body.get("stream"):
        raise BadRequest("the rehearsal judge does not stream: send 'stream': false", "stream")
    return body


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    def start(self) -> JudgeServer:
        if self._httpd is not None:
            return self
        self._httpd = _HTTPServer((self.host, self._requested_port), _Handler)
        self._httpd.judge = self
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
        """The full chat-completions endpoint (what MMBench's evaluator posts to)."""
        return f"{self.base_url}/chat/completions"

    def environment(self) -> dict[str, str]:
        """Environment variables that point every judge client at this server.

        lmms-eval 0.7.3 reads API_TYPE and MODEL_VERSION when its task modules are imported, and
        OPENAI_API_KEY / OPENAI_API_URL when it builds its client: at import for mmvet and MMBench,
        at the first scored answer for llava_in_the_wild; set these before lmms-eval imports them.
        """
        local = "127.0.0.1,localhost"
        no_proxy = ",".join(p for p in (os.environ.get("NO_PROXY") or os.environ.get("no_proxy"), local) if p)
        key = self.api_key or DEFAULT_API_KEY
        return {
            # lmms-eval 0.7.3 (mmvet, llava_in_the_wild, mmbench_*)
            "API_TYPE": "openai",
            "MODEL_VERSION": self.model,
            "OPENAI_API_KEY": key,
            "OPENAI_API_URL": self.chat_completions_url,  # full endpoint; llm_judge's doubled path is served too
            # the project's SHR judge, and the openai SDK's own default
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
            "id": f"chatcmpl-rehearsal-{_seed(messages):016x}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "system_fingerprint": "rehearsal",
            "choices": choices,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    judge: JudgeServer

    def handle_error(self, request, client_address) -> None:  # quiet: no traceback on stderr
        pass


def _error_body(message: str, error_type: str, param: str | None = None, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


_STATUS_ERRORS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "unknown_url"),
    405: ("invalid_request_error", "method_not_allowed"),
    413: ("invalid_request_error", "request_too_large"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", "overloaded"),
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "RehearsalJudge/1.0"
    server: _HTTPServer

    def log_message(self, format, *args) -> None:  # quiet: nothing per request on stderr
        pass

    # -- responses
    def _send_json(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, status: int, message: str, param: str | None = None) -> None:
        error_type, code = _STATUS_ERRORS.get(status, ("invalid_request_error", None))
        headers = {"retry-after-ms": "1", "retry-after": "0"} if status == 429 or status >= 500 else None
        self._send_json(status, _error_body(message, error_type, param, code), headers)

    def _path(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/") or "/"

    def _authorised(self) -> bool:
        key = self.server.judge.api_key
        if key is None:
            return True
        bearer = self.headers.get("Authorization", "")
        return bearer == f"Bearer {key}" or self.headers.get("api-key") == key

    # -- methods
    def do_GET(self) -> None:
        judge, path = self.server.judge, self._path()
        if path in ("/health", "/v1/health"):
            return self._send_json(200, {"status": "ok"})
        if not path.startswith("/v1/models") and path != "/models":
            return self._send_error(404, f"unknown path {path}")
        if not self._authorised():
            return self._send_error(401, "incorrect API key provided")
        model = {"id": judge.model, "object": "model", "created": 0, "owned_by": "aspo-repro-rehearsal"}
        if path in ("/v1/models", "/models"):
            return self._send_json(200, {"object": "list", "data": [model]})
        if path == f"/v1/models/{judge.model}":
            return self._send_json(200, model)
        return self._send_error(404, f"the model {path.rsplit('/', 1)[-1]!r} does not exist")

    def do_POST(self) -> None:
        judge, path = self.server.judge, self._path()
        raw = self._read_body()
        if raw is None:
            return
        if not path.endswith("/chat/completions"):
            return self._send_error(404, f"unknown path {path}: the rehearsal judge serves /v1/chat/completions")
        if not self._authorised():
            judge._record(JudgedRequest(path, 401, None, None, "", "incorrect API key provided"))
            return self._send_error(401, "incorrect API key provided")
        try:
            body = validate_chat_request(json.loads(raw.decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            judge._record(JudgedRequest(path, 400, None, None, "", f"invalid JSON: {error}"))
            return self._send_error(400, f"the request body is not valid JSON ({error})")
        except BadRequest as error:
            judge._record(JudgedRequest(path, 400, None, None, "", str(error)))
            return self._send_error(400, str(error), error.param)
        prompt = prompt_text(body["messages"])
        kind = judge_kind(prompt)
        fault = judge._take_fault(kind)
        if isinstance(fault, int):
            message = f"injected fault: HTTP {fault}"
            judge._record(JudgedRequest(path, fault, kind, body["model"], prompt, message, str(fault)))
            return self._send_error(fault, message)
        payload = judge.completion(body)
        if fault is not None:
            content = GARBAGE_REPLY if fault == "garbage" else ""
            for choice in payload["choices"]:
                choice["message"]["content"] = content
        content = payload["choices"][0]["message"]["content"]
        judge._record(JudgedRequest(path, 200, kind, body["model"], prompt, content, fault))
        self._send_json(200, payload)

    def _read_body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        try:
            size = int(length) if length is not None else 0
        except ValueError:
            self._send_error(400, "invalid Content-Length")
            return None
        if size > MAX_BODY_BYTES:
            self.close_connection = True
            self._send_error(413, f"the request body exceeds {MAX_BODY_BYTES} bytes")
            return None
        return self.rfile.read(size) if size > 0 else b""

    def _read_chunked(self) -> bytes | None:
        data = bytearray()
        while True:
            line = self.rfile.readline(65537).strip()
            try:
                size = int(line.split(b";", 1)[0], 16)
            except ValueError:
                self.close_connection = True
                self._send_error(400, "malformed chunked body")
                return None
            if size == 0:
                while self.rfile.readline(65537).strip():  # trailers
                    pass
                return bytes(data)
            data += self.rfile.read(size)
            self.rfile.readline(65537)
            if len(data) > MAX_BODY_BYTES:
                self.close_connection = True
                self._send_error(413, f"the request body exceeds {MAX_BODY_BYTES} bytes")
                return None


# ----------------------------------------------------------------------------- command line

_JUDGE_SERVER: JudgeServer | None = None


def shared_judge_server(log=print) -> JudgeServer:
    """A local OpenAI-compatible judge for the judged benchmarks (the rehearsal's;
    its deterministic judgements mean nothing), its address in the environment the judges read.

    One server for the process, left running: lmms-eval's judges read their address when their
    module is first imported, so every later evaluation in the process must find the same one."""
    global _JUDGE_SERVER
    if _JUDGE_SERVER is None:
        import atexit

        _JUDGE_SERVER = JudgeServer(port=0)
        _JUDGE_SERVER.start()
        atexit.register(_JUDGE_SERVER.stop)
        os.environ.update(_JUDGE_SERVER.environment())
        log(f"judge: {_JUDGE_SERVER.model} at {_JUDGE_SERVER.base_url} (local, deterministic)")
    return _JUDGE_SERVER


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
