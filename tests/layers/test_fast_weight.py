import math

import pytest
import torch
import torch.nn.functional as F

from fastweights import featuremaps
from fastweights.layers import FastWeightConfig, FastWeightLayer
from fastweights.models.stack import SPECS

PRESETS = {name: spec.preset for name, spec in SPECS.items() if spec.preset.get("rule")}

CONFIGS = {
    "delta": dict(rule="delta"),
    "delta-2sigmoid-noconv": dict(rule="delta", beta="2sigmoid", conv_size=0),
    "sum-normalized": dict(rule="sum", feature_map="elu+1", qk_norm="none", normalize=True),
    "sum-dpfp": dict(rule="sum", feature_map="dpfp", dpfp_nu=2, qk_norm="sumnorm"),
    "sum-favor": dict(rule="sum", feature_map="favor+", favor_features=12, qk_norm="none",
                      normalize=True),
    "gated-delta-fixed": dict(rule="gated_delta_rule", gate="fixed", output_gate=True),
    "gla-dpfp": dict(rule="gated_sum_rule", gate="per_key", feature_map="dpfp",
                     qk_norm="sumnorm"),
    "deltaproduct-3-2sigmoid": dict(rule="delta_product_rule", n_householder=3,
                                    beta="2sigmoid", output_gate=True),
} | PRESETS


def _layer(cfg, **overrides):
    torch.manual_seed(0)
    config = dict(d_model=16, n_heads=2) | cfg | overrides
    return FastWeightLayer(FastWeightConfig(**config)).double()


def _zero_conv(layer) -> dict:
    return {n: t for n, t in layer.init_state(2, dtype=torch.float64).items() if n == "conv"}


@pytest.mark.parametrize("name", CONFIGS)
def test_streaming_equals_whole(name, device):
    layer = _layer(CONFIGS[name]).to(device)
    x = torch.randn(2, 9, 16, dtype=torch.float64, device=device)
    y, state = layer(x)
    y1, s1 = layer(x[:, :4])
    y2, s2 = layer(x[:, 4:], s1)
    torch.testing.assert_close(torch.cat([y1, y2], 1), y, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(s2["S"], state["S"], rtol=1e-10, atol=1e-10)
    carried = sum(t.numel() for t in state.values())
    assert layer.state_size() * 2 == carried


@pytest.mark.parametrize("name", CONFIGS)
def test_chunk_matches_recurrent(name):
    """Inside the full layer (projections, conv, gates, norms), the op's chunk form equals
    its recurrent reference: outputs, final state and every parameter gradient."""
    x = torch.randn(2, 11, 16, dtype=torch.float64)
    S0 = None
    results = []
    for form in ("recurrent", "chunk"):
        layer = _layer(CONFIGS[name], form=form, chunk_size=4)
        if S0 is None:
            S0 = 0.1 * torch.randn(2, *layer.config.state_shape, dtype=torch.float64)
        y, state = layer(x, {"S": S0} | _zero_conv(layer))
        (y.square().sum() + state["S"].square().sum()).backward()
        results.append((y, state["S"], {n: p.grad for n, p in layer.named_parameters()}))
    (y_r, S_r, g_r), (y_c, S_c, g_c) = results
    torch.testing.assert_close(y_c, y_r, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(S_c, S_r, rtol=1e-10, atol=1e-10)
    for n in g_r:
        torch.testing.assert_close(g_c[n], g_r[n], rtol=1e-9, atol=1e-10, msg=n)


def _transcription(layer: FastWeightLayer, x: torch.Tensor) -> torch.Tensor:
    """The module docstring's equations, one step at a time (conv_size = 0)."""
    c = layer.config
    H, d, n = c.n_heads, c.head_dim, c.n_steps
    B, T, _ = x.shape
    S = torch.zeros(B, H, c.key_dim, c.head_dim, dtype=x.dtype)
    ys = []
    for t in range(T):
        xt = x[:, t]
        u = xt @ layer.qkv.weight.T
        q = u[:, :c.d_model].reshape(B, H, d)
        k = u[:, c.d_model:(1 + n) * c.d_model].reshape(B, n, H, d)
        v = u[:, (1 + n) * c.d_model:].reshape(B, n, H, d)
        q, k = layer.features(q), layer.features(k)
        if c.gate == "fixed":
            alpha = (1 - 2.0 ** (-5.0 - torch.arange(H, dtype=x.dtype)))[None, :, None]
        elif c.gate == "scalar":
            g = -layer.a_log.exp() * F.softplus(layer.gate_proj(xt))
            alpha = g.exp()[..., None]
        elif c.gate == "per_key":
            g = F.logsigmoid(layer.gate_proj(xt)).reshape(B, H, c.key_dim) / 16
            alpha = g.exp()
        else:
            alpha = torch.ones(B, H, 1, dtype=x.dtype)
        if layer.beta_proj is None:
            S = alpha[..., None] * S + torch.einsum("bhk,bhv->bhkv", k[:, 0], v[:, 0])
        else:
            beta = {"sigmoid": 1, "2sigmoid": 2}[c.beta] * torch.sigmoid(layer.beta_proj(xt))
            beta = beta.reshape(B, n, H)
            S = alpha[..., None] * S
            for j in range(n):
                kj = k[:, j]
                eye = torch.eye(c.key_dim, dtype=x.dtype)
                A = eye - beta[:, j, :, None, None] * torch.einsum("bhk,bhl->bhkl", kj, kj)
                S = A @ S + beta[:, j, :, None, None] * torch.einsum("bhk,bhv->bhkv", kj,
                                                                     v[:, j])
        o = c.key_dim ** -0.5 * torch.einsum("bhk,bhkv->bhv", q, S)
        r = o * torch.rsqrt(o.square().mean(-1, keepdim=True) + torch.finfo(x.dtype).eps)
        r = (r * layer.out_norm.weight).reshape(B, c.d_model)
        if c.output_gate:
            r = r * F.silu(xt @ layer.out_gate.weight.T)
        ys.append(r @ layer.out.weight.T)
    return torch.stack(ys, 1)


@pytest.mark.parametrize("name", ["gated-deltanet", "retnet", "gla", "mamba2-style",
                                  "deltaproduct", "deltanet"])
def test_matches_transcription(name):
    layer = _layer(PRESETS[name], conv_size=0, beta="2sigmoid" if "delta" in name else "sigmoid")
    x = torch.randn(2, 7, 16, dtype=torch.float64)
    torch.testing.assert_close(layer(x)[0], _transcription(layer, x), rtol=1e-10, atol=1e-10)


def test_gates():
    x = torch.randn(2, 5, 16, dtype=torch.float64)
    retnet = _layer(PRESETS["retnet"], n_heads=4)
    g = retnet.log_gate(x)
    torch.testing.assert_close(g[0, 0].exp(), torch.tensor(
        [1 - 2.0 ** -5, 1 - 2.0 ** -6, 1 - 2.0 ** -7, 1 - 2.0 ** -8], dtype=torch.float64))
    gla = _layer(PRESETS["gla"])
    assert gla.log_gate(x).shape == (2, 5, 2, 8)
    for layer in (gla, _layer(PRESETS["mamba2-style"]), _layer(PRESETS["gated-deltanet"])):
        assert (layer.log_gate(x) <= 0).all()


def test_intermediates():
    layer = _layer(CONFIGS["sum-dpfp"])
    x = torch.randn(2, 6, 16, dtype=torch.float64)
    S0 = torch.randn(2, *layer.config.state_shape, dtype=torch.float64)
    y, state = layer(x, {"S": S0} | _zero_conv(layer))
    y2, state2, inter = layer(x, {"S": S0} | _zero_conv(layer), return_intermediates=True)
    assert torch.equal(y, y2)
    assert inter.S.shape == (2, 6, *layer.config.state_shape)
    torch.testing.assert_close(inter.S[:, -1], state["S"], rtol=1e-10, atol=1e-10)
    # sum rule: each step adds k_t v_tᵀ
    steps = torch.cat([S0[:, None], inter.S], 1).diff(dim=1)
    torch.testing.assert_close(steps, torch.einsum("bthk,bthv->bthkv", inter.k, inter.v))
    assert inter.beta is None and inter.g is None
    layer = _layer(PRESETS["deltaproduct"])
    _, state, inter = layer(x, return_intermediates=True)
    assert inter.k.shape == (2, 6, 2, 2, 8) and inter.beta.shape == (2, 6, 2, 2)
    torch.testing.assert_close(inter.S[:, -1], state["S"], rtol=1e-10, atol=1e-10)


def test_favor_features():
    torch.manual_seed(0)
    d, m = 8, 20_000
    omega = featuremaps.draw_favor(m, d, dtype=torch.float64)
    # each block of d rows is orthogonal
    block = omega[:d] / omega[:d].norm(dim=-1, keepdim=True)
    torch.testing.assert_close(block @ block.T, torch.eye(d, dtype=torch.float64))
    q, k = 0.5 * torch.randn(2, 4, d, dtype=torch.float64)
    phi_q, phi_k = featuremaps.favor(q, omega), featuremaps.favor(k, omega)
    assert (phi_q > 0).all()
    estimate = phi_q @ phi_k.T
    exact = torch.exp(q @ k.T / math.sqrt(d))
    assert ((estimate - exact).abs() / exact).max() < 0.05


def test_favor_redraw_policy():
    x = torch.randn(1, 3, 16, dtype=torch.float64)
    fixed = _layer(CONFIGS["sum-favor"])
    omega = fixed.omega.clone()
    fixed(x)
    assert torch.equal(fixed.omega, omega) and "omega" in fixed.state_dict()
    redraw = _layer(CONFIGS["sum-favor"], favor_redraw=True)
    omega = redraw.omega.clone()
    redraw.eval()
    redraw(x)
    assert torch.equal(redraw.omega, omega)
    redraw.train()
    redraw(x)
    assert not torch.equal(redraw.omega, omega)


def test_scalar_gate_starts_in_the_dt_range():
    torch.manual_seed(0)
    c = FastWeightConfig(d_model=64, n_heads=16, rule="gated_delta", dt_min=1e-4, dt_max=1e-3)
    dt = F.softplus(FastWeightLayer(c).gate_proj.bias)
    assert dt.min() >= 1e-4 * (1 - 1e-5) and dt.max() <= 1e-3 * (1 + 1e-5)
    assert dt.max() / dt.min() > 2  # drawn across the range, not at one end


def test_aliases():
    assert FastWeightConfig(rule="sum").rule == "sum_rule"
    assert FastWeightConfig(rule="gated_delta").gate == "scalar"
    assert FastWeightConfig(rule="delta").gate == "none"


@pytest.mark.parametrize("bad, match", [
    (dict(d_model=10, n_heads=4), "multiple of n_heads"),
    (dict(rule="hebb"), "rule must be one of"),
    (dict(feature_map="cosine"), "feature_map must be one of"),
    (dict(rule="delta", normalize=True), "normalize=True"),
    (dict(conv_size=1), "conv_size"),
    (dict(rule="delta_rule", gate="per_key"), "does not fit rule"),
    (dict(rule="delta_rule", gate="fixed"), "does not fit rule"),
    (dict(gate="sometimes"), "gate must be one of"),
    (dict(rule="delta_rule", n_householder=2), "n_householder"),
    (dict(favor_features=0), "favor_features"),
    (dict(dt_min=0.0), "dt_min"),
    (dict(dt_min=0.1, dt_max=0.01), "dt_min <= dt_max"),
])
def test_bad_config(bad, match):
    with pytest.raises(ValueError, match=match):
        FastWeightConfig(**bad)
