import pytest
import torch


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
    """Every test starts from the same global seed, with the CI machine's thread count."""
    torch.manual_seed(0)
    torch.set_num_threads(2)
    yield
