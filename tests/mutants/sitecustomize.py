"""Applies the mutant ``ASPO_TEST_MUTANT`` names (mutants.py) in every process started with this
directory at the front of ``PYTHONPATH``: the regression matrix's reproductions and their workers."""

import os
import sys

if os.environ.get("ASPO_TEST_MUTANT"):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from mutants import MUTANT_ENV, apply

    apply(os.environ[MUTANT_ENV])
