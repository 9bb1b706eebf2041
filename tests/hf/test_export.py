"""``fastweights export``: a trained run → a folder AutoModelForCausalLM loads."""

import pytest
import torch

pytest.importorskip("transformers", reason="the hf extra is not installed")

from transformers import AutoModelForCausalLM  # noqa: E402

import fastweights.hf  # noqa: E402, F401
from fastweights import load_run  # noqa: E402
from fastweights.cli import main  # noqa: E402


def test_export_gives_the_run_model(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--model", "deltanet", "--task", "char-lm", "--steps", "2",
                 "--eval-every", "2", "--model.d_model=16", "--model.n_layers=1",
                 "--task.seq_len=16", "--task.test_size=4", "--out", str(run)]) == 0
    assert main(["export", str(run), str(tmp_path / "hf")]) == 0
    assert "wrote" in capsys.readouterr().out
    lm = AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    model, task = load_run(run).model, load_run(run).task
    x = task.encode("To be, or not")[None]
    with torch.no_grad():
        torch.testing.assert_close(lm(x).logits, model(x)[0], rtol=1e-6, atol=1e-6)


def test_export_refuses_a_model_that_is_not_a_language_model(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--model", "lstm", "--task", "assoc-retrieval", "--steps", "1",
                 "--eval-every", "1", "--model.d_model=8", "--task.test_size=4",
                 "--out", str(run)]) == 0
    with pytest.raises(SystemExit) as e:
        main(["export", str(run), str(tmp_path / "hf")])
    assert e.value.code == 2
    assert "same tokens" in capsys.readouterr().err
