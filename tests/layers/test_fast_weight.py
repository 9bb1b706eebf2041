import pytest
import torch

from fastweights.layers import FastWeightConfig, FastWeightLayer

CONFIGS = {
    "delta": dict(rule="delta"),
    "delta-2sigmoid-noconv": dict(rule="delta", beta="2sigmoid", conv_size=0),
    "sum-normalized": dict(rule="sum", feature_map="elu+1", qk_norm="none", normalize=True),
    "sum-dpfp": dict(rule="sum", feature_map="dpfp", dpfp_nu=2, qk_norm="sumnorm"),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_streaming_equals_whole(name, device):
    torch.manual_seed(0)
    layer = FastWeightLayer(FastWeightConfig(d_model=16, n_heads=2, **CONFIGS[name]))
    layer = layer.double().to(device)
    x = torch.randn(2, 9, 16, dtype=torch.float64, device=device)
    y, state = layer(x)
    y1, s1 = layer(x[:, :4])
    y2, s2 = layer(x[:, 4:], s1)
    torch.testing.assert_close(torch.cat([y1, y2], 1), y, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(s2.S, state.S, rtol=1e-10, atol=1e-10)
    carried = state.S.numel() + (0 if state.conv is None else state.conv.numel())
    assert layer.state_size() * 2 == carried


@pytest.mark.parametrize("bad, match", [
    (dict(d_model=10, n_heads=4), "multiple of n_heads"),
    (dict(rule="hebb"), "rule must be one of"),
    (dict(feature_map="cosine"), "feature_map must be one of"),
    (dict(rule="delta", normalize=True), "normalize=True"),
    (dict(conv_size=1), "conv_size"),
])
def test_bad_config(bad, match):
    with pytest.raises(ValueError, match=match):
        FastWeightConfig(**bad)
