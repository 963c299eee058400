"""The table files' one reader: each file's kind, its schema, and the faults it names."""

import pytest

from aspo_repro.errors import UserError
from aspo_repro.tables import catalog
from aspo_repro.tables.catalog import SPEC_DIR
from aspo_repro.tables.table_file import (
    BaseQualityFile,
    FigureFile,
    SweepFile,
    TableFile,
    WeightQualityFile,
    read_table_file,
)


def test_each_committed_file_reads_as_its_kind():
    kinds = {path.name: type(read_table_file(path)) for path in sorted(SPEC_DIR.glob("*.yaml"))}
    assert kinds == {"figure3.yaml": FigureFile, "lr_sweep.yaml": SweepFile, "table1.yaml": TableFile, "table1_scorers.yaml": TableFile,
                     "table2.yaml": TableFile, "table5.yaml": TableFile, "table6.yaml": TableFile,
                     "weight_quality.yaml": WeightQualityFile,
                     "base_quality.yaml": BaseQualityFile}
    table6 = read_table_file(SPEC_DIR / "table6.yaml")
    assert (table6.key, table6.stem, table6.paper_table, table6.paper_base_table) == ("6", "table6", "6", "5")
    sweep = read_table_file(SPEC_DIR / "lr_sweep.yaml")
    assert (sweep.key, sweep.stem, sweep.is_figure, sweep.in_paper) == ("lr-sweep", "lr-sweep", True, False)


def test_rows_and_published_rows_are_per_profile():
    table5 = read_table_file(SPEC_DIR / "table5.yaml")
    assert [row.method for row in table5.rows_on("paper")] == ["base", "dpo", "aspo-s", "aspo-p", "aspo"]
    assert table5.rows_on("mini")[-1].method == "aspo-oracle"
    table1 = read_table_file(SPEC_DIR / "table1.yaml")
    assert len(table1.published_rows_on("paper")) == 9 and table1.published_rows_on("mini") == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('title: "x"\n', "a table spec names exactly one of `table:` or `figure:`"),
        ('table: "9"\nfigure: f9\n', "a table spec names exactly one of `table:` or `figure:`"),
        ('table: "9"\ntitle: x\nrows: []\nprofiles: {}\ncolour: red\n', r"unknown key\(s\) colour; allowed: table, title"),
        ('table: "9"\ntitle: x\nrows: [{lable: base, method: base}]\nprofiles: {}\n',
         r"key rows: unknown key\(s\) lable; allowed: label, method"),
        ('figure: s\ntitle: x\noption: learning_rate\nvalues: fast\nseries: [dpo]\npanels: []\nprofiles: {}\n',
         "key values must be a list"),
        ('figure: f\ntitle: x\npoints: [{alpha: 0.5}]\nprofiles: {}\n', "key points: missing key"),
    ],
)
def test_a_fault_is_named_with_its_file(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=message) as error:
        read_table_file(path)
    assert str(error.value).startswith(str(path))


def test_the_catalog_reads_the_same_schema(tmp_path):
    """A sweep file that does not say whether it is the paper's is not (the schema's default), and
    the catalog, which reads it through the same reader, agrees."""
    text = (SPEC_DIR / "lr_sweep.yaml").read_text().replace("in_paper: false\n", "")
    (tmp_path / "lr_sweep.yaml").write_text(text)
    (tmp_path / "table1.yaml").write_text((SPEC_DIR / "table1.yaml").read_text())
    assert catalog.known_names(tmp_path) == ("1", "lr-sweep")
    assert catalog.paper_names(tmp_path) == ("1",)
