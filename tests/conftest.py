import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic_torch():
    """Every test starts from the same global seed, with the CI machine's thread count."""
    torch.manual_seed(0)
    torch.set_num_threads(2)
    yield
