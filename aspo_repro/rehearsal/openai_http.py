"""The HTTP side of an OpenAI-compatible chat-completions server on localhost.

It answers exactly the paths an OpenAI-compatible server answers (``POST /v1/chat/completions``,
``GET /v1/models`` and ``/v1/models/MODEL``, and vLLM's ``GET /health``); anything else is a 404.
Requests are checked as OpenAI's API checks them (:func:`validate_chat_request`) and refused with
OpenAI-style error bodies; what a valid request is answered with is the backend's (a
:class:`ChatBackend`, the rehearsal judge: ``judge_server.py``).
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

MAX_BODY_BYTES = 64 * 2**20
ROLES = ("system", "user", "assistant", "developer", "tool", "function")
# The paths an OpenAI-compatible server answers (the health check: vLLM's)
CHAT_COMPLETIONS_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
HEALTH_PATH = "/health"


class ChatBackend(Protocol):
    """What answers the requests the HTTP side has checked."""

    model: str  # the model the server reports
    api_key: str | None  # the key requests must carry; None accepts any

    def refused(self, path: str, status: int, message: str) -> None:
        """A chat-completion request refused before it reached the backend (bad key, bad body)."""

    def chat_completion(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any] | str]:
        """(200, the chat.completion object), or (an HTTP error status, its message)."""


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


class ChatCompletionsHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server whose handler answers for ``backend``."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], backend: ChatBackend) -> None:
        super().__init__(address, _Handler)
        self.backend = backend

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
    server: ChatCompletionsHTTPServer

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
        return self.path.split("?", 1)[0]

    def _authorised(self) -> bool:
        key = self.server.backend.api_key
        if key is None:
            return True
        bearer = self.headers.get("Authorization", "")
        return bearer == f"Bearer {key}" or self.headers.get("api-key") == key

    # -- methods
    def do_GET(self) -> None:
        backend, path = self.server.backend, self._path()
        if path == HEALTH_PATH:
            return self._send_json(200, {"status": "ok"})
        if path != MODELS_PATH and not path.startswith(MODELS_PATH + "/"):
            return self._send_error(404, f"unknown path {path}")
        if not self._authorised():
            return self._send_error(401, "incorrect API key provided")
        model = {"id": backend.model, "object": "model", "created": 0, "owned_by": "aspo-repro-rehearsal"}
        if path == MODELS_PATH:
            return self._send_json(200, {"object": "list", "data": [model]})
        if path == f"{MODELS_PATH}/{backend.model}":
            return self._send_json(200, model)
        return self._send_error(404, f"the model {path.rsplit('/', 1)[-1]!r} does not exist")

    def do_POST(self) -> None:
        backend, path = self.server.backend, self._path()
        raw = self._read_body()
        if raw is None:
            return
        if path != CHAT_COMPLETIONS_PATH:
            return self._send_error(404, f"unknown path {path}: the rehearsal judge serves {CHAT_COMPLETIONS_PATH}")
        if not self._authorised():
            backend.refused(path, 401, "incorrect API key provided")
            return self._send_error(401, "incorrect API key provided")
        try:
            body = validate_chat_request(json.loads(raw.decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            backend.refused(path, 400, f"invalid JSON: {error}")
            return self._send_error(400, f"the request body is not valid JSON ({error})")
        except BadRequest as error:
            backend.refused(path, 400, str(error))
            return self._send_error(400, str(error), error.param)
        status, answer = backend.chat_completion(path, body)
        if isinstance(answer, str):
            return self._send_error(status, answer)
        self._send_json(status, answer)

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
