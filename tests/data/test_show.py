"""``prefs show``: a pair with each chosen sentence, its similarity S and its weight S^; CLI errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from aspo_repro.data import format_pair, load_pair, pair_features
from aspo_repro.data.shards import rows_to_dataset
from aspo_repro.errors import UserError


def png_bytes() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (6, 4), (1, 2, 3)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    chosen = "A red circle is on the left. A blue square is above it. There are two objects."
    row = {
        "id": "p0", "images": [{"bytes": png_bytes(), "path": "p0.png"}], "prompt": "Describe the image.",
        "chosen": chosen, "rejected": "A green star is here.",
        "chosen_sentence_spans": [[0, 28], [29, 55], [56, 78]],
        "chosen_sentence_similarity": [0.2, 0.4, 0.3],
    }
    directory = tmp_path_factory.mktemp("show") / "prefs"
    rows_to_dataset([row], pair_features()).save_to_disk(str(directory))
    return directory


def test_show_lists_each_sentence_with_s_and_normalised_s(saved):
    pair = load_pair(saved, 0)
    assert pair.sentences == ["A red circle is on the left.", "A blue square is above it.", "There are two objects."]
    # S^ = (S - min) / (max - min) = (0.2 - 0.2) / 0.2, (0.4 - 0.2) / 0.2, (0.3 - 0.2) / 0.2
    assert pair.normalised == pytest.approx([0.0, 1.0, 0.5], abs=1e-6)
    text = format_pair(pair)
    assert "pair 0 of 1 (id p0, image 6x4)" in text
    assert "[1] S=+0.4000 S^=1.000  A blue square is above it." in text
    assert "A green star is here." in text


def test_index_out_of_range_is_a_user_error(saved):
    with pytest.raises(UserError, match="holds 1 pairs"):
        load_pair(saved, 1)
    assert load_pair(saved, -1).id == "p0"


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "aspo_repro", "prefs", *args], capture_output=True, text=True,
                          timeout=120)


def test_cli_show_prints_the_pair(saved):
    result = run_cli("show", str(saved), "--index", "0")
    assert result.returncode == 0, result.stderr
    assert "[2] S=+0.3000 S^=0.500  There are two objects." in result.stdout


@pytest.mark.parametrize("args, message", [
    ((), "prefs needs --model, --instructions, --out"),
    (("show", "/no/such/prefs"), "does not exist"),
    (("--model", "m", "--instructions", "x.json", "--out", "o"), "needs --image-dir"),
    (("--model", "m", "--instructions", "mini", "--out", "o", "--noise-step", "1000"), "noise-step"),
])
def test_cli_bad_input_is_one_line_and_exit_2(args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
