"""A stand-in is written in its hub dataset's schema: rows for exactly the schema's configs."""

from __future__ import annotations

import pytest

from aspo_repro.rehearsal.hub_schemas import SCHEMAS
from aspo_repro.rehearsal.hub_writer import StandinDataset


def no_rows(draw, split, n):
    return []


def test_a_stand_in_names_rows_for_every_config_of_its_schema_and_no_other():
    dataset = StandinDataset("lmms-lab-encoder/POPE", {"default": no_rows, "Full": no_rows})
    assert dataset.configs == SCHEMAS["lmms-lab-encoder/POPE"]
    assert dataset.directory.parts == ("lmms-lab-encoder", "POPE")
    with pytest.raises(ValueError, match=r"rows for configs \['default'\], but its configs are \['default', 'Full'\]"):
        StandinDataset("lmms-lab-encoder/POPE", {"default": no_rows})
    with pytest.raises(ValueError, match="but its configs are"):
        StandinDataset("lmms-lab-encoder/MMVet", {"default": no_rows, "extra": no_rows})
