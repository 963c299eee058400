import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_fixtures import write_benchmark_dir  # noqa: E402


@pytest.fixture(scope="session")
def benchmark_dir(tmp_path_factory) -> Path:
    return write_benchmark_dir(tmp_path_factory.mktemp("mini_benchmarks"))
