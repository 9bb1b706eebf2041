import os

import pytest
import torch

# the commands that tests call in-process would otherwise configure this process's malloc
# to keep its peak heap (fastweights.train.allocator; tested in a subprocess there)
os.environ.setdefault("FASTWEIGHTS_MALLOC", "default")


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Small models on a 2-core machine: one intra-op thread avoids oversubscription."""
    torch.set_num_threads(1)


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def device(request):
    """The device under test; CUDA runs only where a GPU is present."""
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return torch.device(request.param)
