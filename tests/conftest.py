import os

import pytest
import torch

# make test runs the suite in two pytest-xdist workers (one per core of the CI machine), each with
# one torch thread; a plain `pytest` run uses both cores in one process.
THREADS = 1 if os.environ.get("PYTEST_XDIST_WORKER") else 2


class _OpensAFile:
    """Unpickling this creates ``path``: a stand-in for any code a crafted pickle could run."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture
def crafted_payload(tmp_path):
    """(object, marker): pickling ``object`` gives a file whose loading would create ``marker``,
    proof that a loader executed code from a file."""
    marker = tmp_path / "code-was-executed"
    return _OpensAFile(marker), marker


@pytest.fixture(autouse=True)
def _deterministic_torch():
    """Every test starts from the same global seed and thread count."""
    torch.manual_seed(0)
    torch.set_num_threads(THREADS)
    yield
