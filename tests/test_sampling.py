"""``fastweights generate``: text from a trained char-LM run, and the sampling loop."""

import pytest
import torch

from fastweights import models
from fastweights.cli import main
from fastweights.sampling import sample


@pytest.fixture(scope="module")
def char_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "lstm-char"
    assert main(["train", "--model", "lstm", "--task", "char-lm", "--steps", "2",
                 "--eval-every", "2", "--model.d_model=16", "--task.seq_len=16",
                 "--task.test_size=4", "--out", str(out)]) == 0
    return out


def test_generate_prints_text_from_a_char_lm_run(char_run, capsys):
    capsys.readouterr()
    argv = ["generate", str(char_run), "--prompt", "ROMEO:", "--tokens", "20", "--seed", "1"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert text.startswith("ROMEO:") and len(text) == len("ROMEO:") + 20 + 1
    assert main(argv) == 0
    assert capsys.readouterr().out == text
    assert main(argv[:-1] + ["2"]) == 0
    assert capsys.readouterr().out != text


def test_generate_rejects_unknown_characters(char_run, capsys):
    with pytest.raises(SystemExit) as e:
        main(["generate", str(char_run), "--prompt", "ROMEO\u2603"])
    assert e.value.code == 2
    assert "not in the vocabulary" in capsys.readouterr().err


def test_generate_takes_token_ids_on_a_task_without_a_tokenizer(tmp_path, capsys):
    run = tmp_path / "mqar"
    assert main(["train", "--model", "lstm", "--task", "mqar", "--steps", "1", "--eval-every",
                 "1", "--model.d_model=8", "--task.test_size=4", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["generate", str(run), "--prompt", "1 2 3", "--tokens", "4"]) == 0
    words = capsys.readouterr().out.split()
    assert words[:3] == ["1", "2", "3"] and len(words) == 7 and all(w.isdigit() for w in words)
    with pytest.raises(SystemExit):
        main(["generate", str(run), "--prompt", "one two"])
    assert "space-separated token ids" in capsys.readouterr().err


def test_generate_needs_a_run_folder(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["generate", str(tmp_path), "--prompt", "a"])
    assert "no config.json there" in capsys.readouterr().err


def test_sample_greedy_is_the_argmax_of_the_stepped_logits():
    torch.manual_seed(0)
    model = models.build("deltanet", d_model=16, n_heads=2, n_layers=1, input_size=7,
                         output_size=7).eval()
    prompt = torch.randint(0, 7, (2, 4))
    tokens = list(sample(model, prompt, 3, temperature=0))
    seq = prompt
    for token in tokens:
        assert torch.equal(token, model(seq)[0][:, -1].argmax(-1))
        seq = torch.cat([seq, token[:, None]], dim=1)
    with pytest.raises(ValueError, match="temperature"):
        next(sample(model, prompt, 1, temperature=-1))
    with pytest.raises(ValueError, match="prompt must be"):
        next(sample(model, prompt[:, :0], 1))
