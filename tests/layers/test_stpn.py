"""STPN against a literal per-synapse transcription of its equations (float64)."""

import math

import pytest
import torch

from fastweights.layers.stpn import STPN, STPNConfig

B, T, I, D = 2, 6, 4, 3


def reference(layer, x, c):
    """Per sequence, per synapse: y [B, T, D], final F, energies [B, T]."""
    n = layer.n
    W = layer.W.tolist()
    b = layer.b.tolist() if c.bias else [0.0] * D
    cl = math.inf if c.clamp is None else c.clamp

    def lam(i, j):
        return layer.lam[i, j].item() if c.per_synapse else layer.lam[0].item()

    def gam(i, j):
        return layer.gamma[i, j].item() if c.per_synapse else layer.gamma[0].item()

    def row_norms(M):
        return [math.sqrt(sum(M[i][j] ** 2 for j in range(n))) for i in range(D)]

    ys, Fs, Es = [], [], []
    for s in range(x.shape[0]):
        F = [[0.0] * n for _ in range(D)]
        h = [0.0] * D
        y_s, e_s = [], []
        for t in range(x.shape[1]):
            xt = x[s, t].tolist()
            z = xt + (h if c.recurrent else [])
            G = [[W[i][j] + F[i][j] for j in range(n)] for i in range(D)]
            norm = row_norms(G)
            Gt = [[G[i][j] / norm[i] for j in range(n)] for i in range(D)]
            h = [math.tanh(sum(Gt[i][j] * z[j] for j in range(n)) + b[i]) for i in range(D)]
            e_s.append(sum(abs(Gt[i][j]) * z[j] ** 2 for i in range(D) for j in range(n)))
            # presynaptic activity of the Hebbian term: the new h in the ART net
            pre = xt + h if (c.recurrent and c.variant == "art") else z
            # the trace that decays (and enters Oja's term): F / ||G|| at time "pre"
            Fh = [[F[i][j] / norm[i] if c.norm == "before" else F[i][j] for j in range(n)]
                  for i in range(D)]
            if c.rule == "hebb":
                dF = [[h[i] * pre[j] for j in range(n)] for i in range(D)]
            else:
                Fo = F if c.variant == "legacy" else Fh
                Fth = [sum(Fo[i][j] * h[i] for i in range(D)) for j in range(n)]
                dF = [[h[i] * (pre[j] - Fth[j]) for j in range(n)] for i in range(D)]
            P = [[lam(i, j) * Fh[i][j] + gam(i, j) * dF[i][j] for j in range(n)]
                 for i in range(D)]
            if c.norm == "after":
                P = [[P[i][j] / norm[i] for j in range(n)] for i in range(D)]
            P = [[min(max(f, -cl), cl) for f in row] for row in P]
            if c.norm == "post":  # divide by the new efficacy's row norms, after the clamp
                new_norm = row_norms([[W[i][j] + P[i][j] for j in range(n)] for i in range(D)])
                P = [[P[i][j] / new_norm[i] for j in range(n)] for i in range(D)]
            F = P
            y_s.append(h)
        ys.append(y_s)
        Fs.append(F)
        Es.append(e_s)
    return (torch.tensor(ys, dtype=torch.float64), torch.tensor(Fs, dtype=torch.float64),
            torch.tensor(Es, dtype=torch.float64))


CASES = [(rec, variant, rule, norm) for rec in (True, False)
         for variant in ("art", "demo", "legacy") for rule in ("hebb", "oja")
         for norm in ("before", "none", "post", "after") if rec or variant != "demo"]


@pytest.mark.parametrize("recurrent,variant,rule,norm", CASES)
def test_stpn_matches_transcription(recurrent, variant, rule, norm):
    torch.manual_seed(0)
    c = STPNConfig(d_model=D, recurrent=recurrent, rule=rule, norm=norm, variant=variant,
                   bias=recurrent, clamp=0.3 if norm == "post" else None)
    layer = STPN(I, c).double()
    with torch.no_grad():  # a visible plasticity, so F matters
        layer.gamma.uniform_(-0.5, 0.5)
    x = torch.randn(B, T, I, dtype=torch.float64)
    y, state, inter = layer(x, return_intermediates=True)
    y_ref, F_ref, E_ref = reference(layer, x, c)
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(state["F"], F_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(inter.energy, E_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(inter.F[:, -1], state["F"])
    torch.testing.assert_close(inter.h, y)


@pytest.mark.parametrize("per_synapse,clamp", [(False, None), (True, 0.05)])
def test_stpn_scalar_and_clamp_options(per_synapse, clamp):
    torch.manual_seed(0)
    c = STPNConfig(d_model=D, per_synapse=per_synapse, clamp=clamp)
    layer = STPN(I, c).double()
    assert layer.lam.shape == ((D, I + D) if per_synapse else (1,))
    with torch.no_grad():
        layer.gamma.fill_(0.7)
    x = torch.randn(B, T, I, dtype=torch.float64)
    y, state = layer(x)
    y_ref, F_ref, _ = reference(layer, x, c)
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(state["F"], F_ref, rtol=1e-12, atol=1e-12)
    if clamp is not None:
        assert state["F"].abs().max() <= clamp


@pytest.mark.parametrize("rule", ["hebb", "oja"])
def test_no_plasticity_keeps_the_trace_at_zero(rule):
    torch.manual_seed(0)
    layer = STPN(I, STPNConfig(d_model=D, rule=rule)).double()
    with torch.no_grad():
        layer.gamma.zero_()
    x = torch.randn(B, 20, I, dtype=torch.float64)
    _, _, inter = layer(x, return_intermediates=True)
    assert torch.equal(inter.F, torch.zeros_like(inter.F))


@pytest.mark.parametrize("recurrent", [True, False])
def test_init_follows_the_authors(recurrent):
    """W, b ~ U(±1/√k), γ ~ 10⁻³·U(±1/√k), k = d (STPNr) or n (STPNf); legacy: k = d, γ ±10⁻³."""
    d, i = 9, 40
    n = i + (d if recurrent else 0)
    for variant, k, g in (("art", d if recurrent else n, None), ("legacy", d, 1e-3)):
        torch.manual_seed(0)
        layer = STPN(i, STPNConfig(d_model=d, recurrent=recurrent, variant=variant))
        r = k ** -0.5
        g = 1e-3 * r if g is None else g
        assert layer.W.abs().max() <= r and layer.W.abs().max() > 0.9 * r
        assert layer.b.abs().max() <= r
        assert layer.gamma.abs().max() <= g and layer.gamma.abs().max() > 0.9 * g
        assert 0 <= layer.lam.min() and layer.lam.max() <= 1
    assert STPN(i, STPNConfig(d_model=d, bias=False)).b is None


def test_init_and_config_checks():
    layer = STPN(I, STPNConfig(d_model=D))
    assert 0 <= layer.lam.min() and layer.lam.max() <= 1
    assert layer.gamma.abs().max() <= 1e-3
    assert STPN(I, STPNConfig(d_model=D, recurrent=False)).state_size() == D * I
    with pytest.raises(ValueError, match="rule"):
        STPNConfig(rule="bcm")
    with pytest.raises(ValueError, match="norm"):
        STPNConfig(norm="never")
    with pytest.raises(ValueError, match="variant"):
        STPNConfig(variant="maze")
