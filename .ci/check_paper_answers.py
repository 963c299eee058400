"""CI: the paper profile's evaluation path on the mini world's models, each score checked against the
project's own exact evaluation of the same questions (aspo_repro/rehearsal/checkable.py; its
CHECKS state what each benchmark must reach and why). Writes DIR/agreement.json and .md; exits 1
when a check fails."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before huggingface_hub reads it: the snapshots are local

from aspo_repro.rehearsal.checkable import main  # noqa: E402

if __name__ == "__main__":  # the world's builders start worker processes that import this file
    sys.exit(main(sys.argv[1:]))
