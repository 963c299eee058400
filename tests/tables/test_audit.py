import pandas as pd
import pytest

from aspo_repro.tables.audit import (
    AverageFinding,
    CrossTableFinding,
    audit,
    audit_averages,
    format_audit,
)
from aspo_repro.tables.published import RowKey, load_published


def frame(rows):
    return pd.DataFrame(rows, columns=["table", "model", "method", "level", "benchmark", "value"])


def row(benchmark, value, table="1", method="base"):
    return (table, "m", method, "", benchmark, value)


def test_the_paper_disagrees_with_itself_in_exactly_these_cells():
    findings = audit(load_published())
    assert [(type(f), f.row, f.benchmark) for f in findings] == [
        (AverageFinding, RowKey("5", "llava-1.5-7b", "base"), "avg"),
        (CrossTableFinding, RowKey("1", "llava-1.5-7b", "base"), "seed_image"),
        (CrossTableFinding, RowKey("1", "llava-1.5-7b", "base"), "shr"),
    ]
    avg, seed, shr = findings
    # Table 5's base row: (30.5+64.3+66.4+58.3+66.1+63.4+66.8+62.0+85.9) / 9 = 563.7 / 9
    assert avg.published == 62.59 and avg.expected == pytest.approx(563.7 / 9)
    assert (seed.published, seed.expected, seed.other.table) == (65.7, 66.1, "5")
    assert (shr.published, shr.expected, shr.other.table) == (36.7, 37.9, "5")


def test_an_average_within_rounding_is_not_reported():
    # mean of 10.0, 20.0, 30.001 is 20.000333; 20.00 is within rounding, 20.01 is not
    base = [row("mmvet", 10.0), row("pope", 20.0), row("gqa", 30.001)]
    assert audit_averages(frame([*base, row("avg", 20.00)])) == []
    (finding,) = audit_averages(frame([*base, row("avg", 20.01)]))
    assert finding.expected == pytest.approx(20.000333, abs=1e-6)


def test_shr_is_left_out_of_the_average():
    base = [row("mmvet", 10.0), row("pope", 20.0), row("shr", 90.0)]
    assert audit_averages(frame([*base, row("avg", 15.0)])) == []
    (finding,) = audit_averages(frame([*base, row("avg", 40.0)]))  # 40 would be the mean with SHR
    assert finding.expected == 15.0


def test_rows_without_a_published_average_are_not_audited():
    assert audit_averages(frame([row("mmvet", 10.0), row("pope", 20.0)])) == []


def test_cross_table_check_treats_a_missing_level_as_the_methods_own():
    same = frame([("1", "m", "dpo", "", "pope", 80.0), ("6", "m", "dpo", "response", "pope", 80.5)])
    (finding,) = audit(same)
    assert isinstance(finding, CrossTableFinding) and finding.other == RowKey("6", "m", "dpo", "response")
    other_level = frame([("1", "m", "aspo", "", "pope", 80.0), ("6", "m", "aspo", "token", "pope", 70.0)])
    assert audit(other_level) == []


def test_format_audit_lists_each_finding():
    text = format_audit(audit(load_published()))
    assert text.startswith("3 place(s) where the paper disagrees with itself:")
    assert "Table 5, llava-1.5-7b base: the published Avg 62.59 is not the mean" in text
    assert "seed_image is 65.7 in Table 1 but 66.1 in Table 5" in text
    assert format_audit([]).startswith("The published numbers agree")
