"""The update rules as in-context regressors (``analysis.icl_rules``)."""

from fastweights.analysis.icl_rules import icl_rule_errors, main


def test_mesa_reads_least_squares_and_the_delta_rule_lags():
    err = icl_rule_errors(dim=3, n_points=10, n=200, seed=0)
    lsq, mesa, delta = err["least squares"], err["mesa_rule"], err["delta_rule"]
    for i in range(3):  # fewer pairs than dimensions: both give the minimum-norm answer
        assert abs(mesa[i] - lsq[i]) < 1e-4 * max(lsq[i], 1e-3)
    assert max(mesa[5:]) < 1e-8 and max(lsq[5:]) < 1e-8
    assert min(delta[5:]) > 1e-4  # one projection per pair: not yet exact
    assert delta[9] < delta[4] < err["sum_rule (mean)"][4]
    cg = err["mesa_rule, 2 CG steps"]
    # after ≤ 1 pair, H_kk + λI has two distinct eigenvalues: 2 CG steps are exact
    assert all(abs(cg[i] - mesa[i]) < 1e-6 * mesa[i] for i in (0, 1))
    assert min(cg[5:]) > 1e3 * max(mesa[5:])  # fewer CG steps than d = 3: not exact


def test_command_writes_the_figure(tmp_path, capsys):
    main(["--dim", "2", "--n-points", "4", "--n", "20", "--out", str(tmp_path)])
    assert (tmp_path / "icl-rules.png").exists() and (tmp_path / "errors.json").exists()
    assert "| pairs seen |" in capsys.readouterr().out
