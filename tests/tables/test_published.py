"""baselines/published.csv against its schema and against the paper's own table lines."""

from pathlib import Path

import pandas as pd
import pytest

from aspo_repro.errors import UserError
from aspo_repro.methods import method_names
from aspo_repro.results import BASE_METHOD
from aspo_repro.tables.published import (
    COLUMNS,
    PUBLISHED_BENCHMARKS,
    PUBLISHED_CSV,
    RowKey,
    load_published,
    published_methods,
    published_row,
    schema_problems,
)

DATA = Path(__file__).parent / "data" / "paper_tables.txt"
PAPER = Path(__file__).resolve().parents[2] / "docs" / "paper" / "001_7a7c5c4a1d7755ac.txt"  # the paper's text
DASH = "–"

FULL = ["mmvet", "mmbench_dev", "mmbench_test", "mmbench_cn", "seed_image", "llava_wild", "sqa_img", "gqa", "pope", "shr", "avg"]
TABLE2 = ["mmvet", "mmbench_dev", "llava_wild", "sqa_img", "pope", "avg"]
# Row labels of the paper, written out by hand: (model, method) for a label, or a method for a "+" row.
TABLE1_MODELS = {
    "BLIP-2-7B": "blip-2-7b", "MiniGPT-4-7B": "minigpt-4-7b", "Shikra-13B": "shikra-13b",
    "LLaVA-7B": "llava-7b", "IDEFICS-7B": "idefics-7b", "IDEFICS-65B": "idefics-65b",
    "mPLUG-Owl2-7B": "mplug-owl2-7b", "Qwen-VL-7B": "qwen-vl-7b", "Qwen-VL-chat-7B": "qwen-vl-chat-7b",
    "InstructBLIP-13B": "instructblip-13b", "LLaVA-1.5-7B": "llava-1.5-7b", "LLaVA-1.5-13B": "llava-1.5-13b",
}
PLUS_METHODS = {
    "+DPO": "dpo", "+ASPO": "aspo", "+ASPO-S": "aspo-s", "+ASPO-P": "aspo-p", "+ASPO-S+P": "aspo",
    "+ Vlfeedback": "vlfeedback", "+ Human-Prefer": "human-prefer", "+ POVID": "povid", "+ SIMA": "sima",
    "+ HA-DPO": "ha-dpo", "+ RLHF-V": "rlhf-v", "+ RLAIF-V": "rlaif-v", "+ CLIP-DPO": "clip-dpo",
    "+ CSR iter-1": "csr-iter-1", "+ CSR iter-3": "csr-iter-3", "+ FiSAO": "fisao", "+ ASPO": "aspo",
}


def paper_tables() -> dict[str, list[list[str]]]:
    """The data rows of each table in the verbatim copy of the paper's lines, as lists of cells."""
    tables, current = {}, None
    for line in DATA.read_text(encoding="utf-8").splitlines():
        if line.startswith("# Table "):
            current = line.removeprefix("# Table ").strip()
            tables[current] = []
        elif current and "|" in line and not line.startswith(("Method", "---")):
            tables[current].append([cell.strip() for cell in line.split("|")[:-1]])
    return tables


def paper_cells() -> dict[tuple[str, str, str, str, str], str]:
    """Every cell of Tables 1, 2, 5 and 6 as the paper prints it, dashes included."""
    cells = {}
    for table, rows in paper_tables().items():
        model = "llava-1.5-7b"
        for cells_of_row in rows:
            label = cells_of_row[0]
            has_level = table in ("2", "6")
            level = cells_of_row[1].lower() if has_level else ""
            level = "" if level == DASH else level
            values = cells_of_row[2:] if has_level else cells_of_row[1:]
            if table == "6":
                method = label.lower()
            elif label in PLUS_METHODS:
                method = PLUS_METHODS[label]
            else:
                model, method = TABLE1_MODELS[label], "base"
            for benchmark, text in zip(TABLE2 if table == "2" else FULL, values, strict=True):
                cells[(table, model, method, level, benchmark)] = text
    return cells


@pytest.fixture(scope="module")
def published():
    return load_published()


def test_the_file_matches_its_schema():
    raw = pd.read_csv(PUBLISHED_CSV, dtype=str, keep_default_na=False)
    assert tuple(raw.columns) == COLUMNS
    assert schema_problems(raw) == []


def test_one_row_per_non_dash_cell_of_the_paper(published):
    cells = paper_cells()
    numbers = {key: text for key, text in cells.items() if text != DASH}
    assert len(cells) == 12 * 11 + 6 * 11 + 13 * 6 + 5 * 11 + 4 * 11  # every printed cell, parsed
    assert len(numbers) == 307
    assert len(published) == len(numbers)
    by_table = published.groupby("table").size().to_dict()
    assert by_table == {"1": 137, "2": 71, "5": 55, "6": 44}


def test_every_number_equals_the_paper_text(published):
    mine = {tuple(r[:5]): r[5] for r in published.itertuples(index=False)}
    for key, text in paper_cells().items():
        if text == DASH:
            assert key not in mine, f"{key} is a dash in the paper but has a row"
        else:
            assert mine.get(key) == float(text), f"{key}: paper {text}, csv {mine.get(key)}"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (("1", "llava-1.5-13b", "aspo", "", "llava_wild"), 82.0),
        (("1", "llava-1.5-7b", "base", "", "seed_image"), 65.7),
        (("5", "llava-1.5-7b", "base", "", "seed_image"), 66.1),
        (("5", "llava-1.5-7b", "base", "", "shr"), 37.9),
        (("1", "qwen-vl-7b", "base", "", "mmbench_cn"), 7.4),
        (("1", "instructblip-13b", "dpo", "", "avg"), 44.50),
        (("2", "llava-1.5-7b", "csr-iter-3", "sentence", "avg"), 65.40),
        (("2", "llava-1.5-7b", "fisao", "token", "sqa_img"), 69.3),
        (("6", "llava-1.5-7b", "aspo", "response", "shr"), 72.1),
        (("6", "llava-1.5-7b", "aspo", "token", "pope"), 77.7),
    ],
)
def test_spot_checks_typed_from_the_paper(published, key, value):
    table, model, method, level, benchmark = key
    assert published_row(published, RowKey(table, model, method, level))[benchmark] == value


def test_dashes_have_no_rows(published):
    assert "mmbench_test" not in published_row(published, RowKey("1", "blip-2-7b", "base"))
    assert set(published_row(published, RowKey("1", "shikra-13b", "base"))) == {"mmbench_dev"}
    assert "avg" not in published_row(published, RowKey("2", "llava-1.5-7b", "rlaif-v", "sentence"))


def test_keys_are_the_documented_ones(published):
    assert set(published["benchmark"]) == set(PUBLISHED_BENCHMARKS)
    assert set(published["method"]) == set(published_methods())
    assert set(published["level"]) == {"", "response", "sentence", "token"}


def test_the_published_methods_are_those_the_table_files_read():
    """A published row of the paper's own is compared with the runs of the registry method of its name;
    Table 2's rows of other papers are its file's published-only rows."""
    own = [m for m in published_methods() if m in method_names()]
    assert [BASE_METHOD, *own] == [BASE_METHOD, "dpo", "aspo", "aspo-s", "aspo-p"]
    others = {m for m in published_methods() if m not in own and m != BASE_METHOD}
    assert others == {"vlfeedback", "human-prefer", "povid", "sima", "ha-dpo", "rlhf-v", "rlaif-v",
                      "clip-dpo", "csr-iter-1", "csr-iter-3", "fisao"}


def test_the_verbatim_copy_matches_the_paper():
    paper = PAPER.read_text(encoding="utf-8").splitlines()
    copied = [line for line in DATA.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    assert copied == paper[76:111] + paper[134:147]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("1,blip-2-7b,base,,mmvet,22.4", "1,blip-2-7b,base,,mmvet,abc"), "value 'abc' is not a number"),
        (lambda t: t.replace("1,blip-2-7b,base,,mmvet,22.4", "1,blip-2-7b,base,,mmvet,122.4"), "is not a number in"),
        (lambda t: t.replace("1,blip-2-7b,base,,mmvet", "1,blip-2-7b,base,,mm_vet"), "benchmark 'mm_vet' is not one of"),
        (lambda t: t.replace("1,blip-2-7b,base,,mmvet", "3,blip-2-7b,base,,mmvet"), "table '3' is not one of"),
        # a registry method whose published rows no table file reads
        (lambda t: t.replace("1,blip-2-7b,base,,mmvet", "1,blip-2-7b,aspo-token,,mmvet"), "method 'aspo-token' is not one of"),
        (lambda t: t.replace("1,blip-2-7b,base,,mmvet", "1,BLIP 2,base,,mmvet"), "not a lower-case slug"),
        (lambda t: t + "1,blip-2-7b,base,,mmvet,22.5\n", "duplicate cell: table=1, model=blip-2-7b"),
        (lambda t: t.replace("table,model", "tbl,model"), "columns must be"),
    ],
)
def test_schema_violations_are_reported(tmp_path, edit, message):
    path = tmp_path / "published.csv"
    path.write_text(edit(PUBLISHED_CSV.read_text()))
    with pytest.raises(UserError, match=message):
        load_published(path)
