"""Every form of `sum_rule` vs the recurrent reference: outputs, final state, gradients."""

import pytest
import torch
from op_cases import assert_matches_reference

VARIANTS = ["sum_rule", "sum_rule_normalized"]
LENGTHS = [1, 63, 100, 257]
DTYPES = [torch.float64, torch.float32]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("chunk_size", [16, 32, 64])
@pytest.mark.parametrize("T", LENGTHS)
def test_chunk_matches_recurrent(variant, T, chunk_size, dtype):
    assert_matches_reference(variant, T, dtype, "chunk", chunk_size)

@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("T", LENGTHS)
def test_parallel_matches_recurrent(variant, T, dtype):
    assert_matches_reference(variant, T, dtype, "parallel")
