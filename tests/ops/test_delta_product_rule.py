"""Every form of `delta_product_rule` vs the recurrent reference: outputs, final state, grads."""

import pytest
import torch
from op_cases import assert_matches_reference

VARIANTS = ["delta_product_rule"]
LENGTHS = [1, 63, 100, 257]
DTYPES = [torch.float64, torch.float32]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("chunk_size", [16, 32, 64])
@pytest.mark.parametrize("T", LENGTHS)
def test_chunk_matches_recurrent(variant, T, chunk_size, dtype):
    assert_matches_reference(variant, T, dtype, "chunk", chunk_size)
