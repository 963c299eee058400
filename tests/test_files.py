"""The one reader per kind of file: messages name the file, the fault and what is allowed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from aspo_repro.errors import UserError
from aspo_repro.files import (
    dataclass_from_mapping,
    read_json_object,
    read_record,
    read_yaml_mapping,
)


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    (b"\xff{}", r"is not UTF-8 text \(byte 0\)"),
    (b'{"a": ', "is not valid JSON"),
    (b"[1, 2]", "must hold a JSON object, not a list"),
])
def test_a_json_object_file_fault_is_one_message_naming_the_file(content, message, tmp_path):
    path = tmp_path / "thing.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=message) as raised:
        read_json_object(path, "thing")
    assert str(raised.value).startswith(f"thing {path}")


@pytest.mark.parametrize("content, expected", [(b"", {}), (b"a: 1\n", {"a": 1})])
def test_yaml_mappings_read(content, expected, tmp_path):
    (tmp_path / "x.yaml").write_bytes(content)
    assert read_yaml_mapping(tmp_path / "x.yaml", "settings") == expected


@pytest.mark.parametrize("content, message", [
    (b"- 1\n", "must hold a mapping of keys to values, not a list"),
    (b"a: [1\n", "is not valid YAML at line 2"),
    (b"a: \xff\n", "is not UTF-8 text"),
])
def test_bad_yaml_is_one_message(content, message, tmp_path):
    (tmp_path / "x.yaml").write_bytes(content)
    with pytest.raises(UserError, match=message):
        read_yaml_mapping(tmp_path / "x.yaml", "settings")


def test_a_damaged_record_is_reported_and_reads_as_absent(tmp_path):
    heard = []
    assert read_record(tmp_path / "none.json", "run record", heard.append) is None and not heard
    (tmp_path / "run.json").write_text('{"status": "comp')
    assert read_record(tmp_path / "run.json", "run record", heard.append) is None
    assert len(heard) == 1 and str(tmp_path / "run.json") in heard[0] and "treated as not done" in heard[0]
    (tmp_path / "run.json").write_text('{"status": "complete"}')
    assert read_record(tmp_path / "run.json", "run record", heard.append) == {"status": "complete"}


@dataclass(frozen=True)
class Inner:
    limit: int | None = None
    rate: float = 0.1


@dataclass(frozen=True)
class Outer:
    name: str
    inner: Inner = field(default_factory=Inner)
    path: Path | None = None
    tags: tuple[str, ...] = ()
    table: dict[str, float] = field(default_factory=dict)
    flag: bool = False


def test_a_mapping_becomes_the_typed_config():
    built = dataclass_from_mapping(Outer, {"name": "x", "inner": {"limit": 3, "rate": "1e-4"}, "path": "a/b",
                                           "tags": ["p", "q"], "table": {"k": 2}, "flag": True}, "the file")
    assert built == Outer("x", Inner(3, 1e-4), Path("a/b"), ("p", "q"), {"k": 2.0}, True)


@pytest.mark.parametrize("data, message", [
    ({"name": "x", "nmae": 1}, "the file: unknown key(s) nmae; allowed: name, inner, path, tags, table, flag"),
    ({"name": "x", "inner": {"limt": 1}}, "the file, key inner: unknown key(s) limt; allowed: limit, rate"),
    ({"inner": {}}, "the file: missing key(s) name"),
    ({"name": 3}, "the file, key name must be a string, got number 3"),
    ({"name": "x", "inner": {"limit": 2.5}}, "key limit must be a whole number"),
    ({"name": "x", "inner": {"limit": True}}, "key limit must be a whole number"),
    ({"name": "x", "inner": []}, "key inner must be a mapping of keys to values, not a list"),
    ({"name": "x", "flag": "yes please"}, "key flag must be true or false"),
    ({"name": "x", "table": {"k": "lots"}}, r"key table.k must be a number"),
    (["name"], "the file must be a mapping of keys to values, not a list"),
])
def test_a_wrong_key_or_type_is_named_with_what_is_allowed(data, message):
    with pytest.raises(UserError) as raised:
        dataclass_from_mapping(Outer, data, "the file")
    assert message in str(raised.value)


def test_a_configs_own_check_names_the_file():
    @dataclass(frozen=True)
    class Checked:
        size: int = 1

        def __post_init__(self):
            if self.size < 1:
                raise UserError(f"size must be positive; got {self.size}")

    with pytest.raises(UserError, match="^the file: size must be positive; got 0$"):
        dataclass_from_mapping(Checked, {"size": 0}, "the file")
