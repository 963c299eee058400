"""Reading the project's files: one reader per kind of file, one message per fault.

Every command reads its JSON and YAML files through these functions, so the same damage gets the
same one-line ``UserError``: the file, what is wrong with it, and what it must hold. Two kinds of
reader:

- ``read_json_object`` / ``read_yaml_mapping`` for input the user gave: a fault is an error.
- ``read_record`` for the records the tool writes to know what is done (``run.json``, step and
  raw-output records): a missing or damaged record means "not done". A damaged one is reported
  (through ``warn``) and treated as absent, so a file left by a crash never makes the next run crash.

``dataclass_from_mapping`` turns a mapping into a typed config, refusing unknown keys by name.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aspo_repro.errors import UserError

Warn = Callable[[str], None]


def warn(message: str) -> None:
    """The default reporter of damaged records: one line on standard error."""
    print(message, file=sys.stderr, flush=True)


def read_text(path: str | Path, kind: str) -> str:
    """The UTF-8 text of ``path``; ``kind`` names the file in messages (e.g. 'tolerance file')."""
    path = Path(path)
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise UserError(f"{kind} {path} does not exist") from None
    except IsADirectoryError:
        raise UserError(f"{kind} {path} is a directory; a file is needed") from None
    except UnicodeDecodeError as error:
        raise UserError(f"{kind} {path} is not UTF-8 text (byte {error.start}); it must be UTF-8") from None
    except OSError as error:
        raise UserError(f"{kind} {path} cannot be read ({error.strerror or error})") from None


def read_json(path: str | Path, kind: str) -> Any:
    text = read_text(path, kind)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"{kind} {path} is not valid JSON ({error}); it may be truncated") from None


def read_json_object(path: str | Path, kind: str) -> dict[str, Any]:
    data = read_json(path, kind)
    if not isinstance(data, dict):
        raise UserError(f"{kind} {path} must hold a JSON object, not a {json_type(data)}")
    return data


def read_yaml_mapping(path: str | Path, kind: str) -> dict[str, Any]:
    """A YAML file holding a mapping (an empty file is an empty mapping)."""
    import yaml

    text = read_text(path, kind)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise UserError(f"{kind} {path} is not valid YAML{at}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{kind} {path} must hold a mapping of keys to values, not a {json_type(data)}")
    return data


def read_record(path: str | Path, kind: str, warn: Warn | None = None) -> dict[str, Any] | None:
    """A JSON object the tool wrote; None when missing, and None (reported to ``warn``) when damaged."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return read_json_object(path, kind)
    except UserError as error:
        report_damage(error, warn)
        return None


def report_damage(error: UserError, warn: Warn | None) -> None:
    """Tell ``warn`` (if any) that a damaged record counts as not done."""
    if warn is not None:
        warn(f"warning: {error}; treated as not done")


def json_type(value: Any) -> str:
    names = {dict: "mapping", list: "list", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


# ---------------------------------------------------------------------------- typed configs
# The metadata of a config field that its caller sets for each job (the model a stage runs on, its
# output path): a file holding the config's settings (a profile's ``prefs:`` section) may not name it.
SET_PER_JOB = {"set_per_job": True}


def dataclass_from_mapping(cls: type, data: Any, where: str) -> Any:
    """``cls(**data)`` with every key known and every value of its field's type.

    ``where`` names the mapping in messages (``profile configs/profiles/mini.yaml, section prefs``).
    Fields that are dataclasses are read recursively from nested mappings; fields marked
    :data:`SET_PER_JOB` keep their defaults (the caller fills them in).
    """
    if not isinstance(data, Mapping):
        raise UserError(f"{where} must be a mapping of keys to values, not a {json_type(data)}")
    every = {f.name: f for f in dataclasses.fields(cls) if f.init}
    fields = {name: f for name, f in every.items() if not f.metadata.get("set_per_job")}
    per_job = sorted(str(key) for key in data if key in every and key not in fields)
    if per_job:
        raise UserError(f"{where}: {', '.join(per_job)} cannot be set here (each job sets it); "
                        f"allowed: {', '.join(fields)}")
    unknown = [str(key) for key in data if key not in fields]
    if unknown:
        raise UserError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(fields)}")
    required = [name for name, f in fields.items() if _is_required(f) and name not in data]
    if required:
        raise UserError(f"{where}: missing key(s) {', '.join(required)}")
    hints = typing.get_type_hints(cls)
    values = {name: _convert(value, hints[name], f"{where}, key {name}") for name, value in data.items()}
    try:
        return cls(**values)
    except UserError as error:  # a config's own check of its values
        raise UserError(f"{where}: {error}") from None


def _is_required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _convert(value: Any, hint: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [arg for arg in args if arg is not type(None)]
        return _convert(value, options[0], where) if len(options) == 1 else value
    if dataclasses.is_dataclass(hint):
        return dataclass_from_mapping(hint, value, where)
    if hint is Any:
        return value
    if origin is dict:
        if not isinstance(value, Mapping):
            raise _wrong_type(where, value, "a mapping")
        value_hint = args[1] if args else Any
        return {str(key): _convert(item, value_hint, f"{where}.{key}") for key, item in value.items()}
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise _wrong_type(where, value, "a list")
        item_hint = args[0] if args else Any
        return origin(_convert(item, item_hint, where) for item in value)
    return _convert_scalar(value, hint, where)


def _convert_scalar(value: Any, hint: Any, where: str) -> Any:
    if hint is bool:
        if not isinstance(value, bool):
            raise _wrong_type(where, value, "true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong_type(where, value, "a whole number")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
            value = _number_or_text(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _wrong_type(where, value, "a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise _wrong_type(where, value, "a string")
        return value
    if hint is Path:
        if not isinstance(value, str):
            raise _wrong_type(where, value, "a path")
        return Path(value)
    return value


def _number_or_text(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def _wrong_type(where: str, value: Any, expected: str) -> UserError:
    return UserError(f"{where} must be {expected}, got {json_type(value)} {value!r}"[:300])
