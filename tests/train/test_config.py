import pytest

from fastweights.train.config import parse_dotted, read_toml, resolve


def test_file_then_flags(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text('[model]\nname = "lstm"\nd_model = 24\n[task]\nn_pairs = 3\n'
                    '[train]\nlr = 1e-3\nsteps = 50\ntarget = 0.9\n')
    exp = resolve(read_toml(path), parse_dotted(["--model.d_model=32", "--train.steps", "7"]))
    assert exp.model.name == "lstm" and exp.model.config.d_model == 32
    assert exp.task.config.n_pairs == 3
    assert (exp.train.lr, exp.train.steps, exp.train.target) == (1e-3, 7, 0.9)
    assert resolve(read_toml(path), model="deltanet").model.name == "deltanet"


@pytest.mark.parametrize("file, flags, match", [
    ({"modle": {}}, [], r"unknown config section\(s\) \['modle'\]"),
    ({}, ["--trian.lr=1"], "unknown config section 'trian'"),
    ({"train": {"steps": "many"}}, [], "train.steps must be of type int"),
    ({"train": {"steps": 1.5}}, [], "train.steps must be of type int"),
    ({}, ["--train.tensorboard=maybe"], "train.tensorboard must be of type bool"),
    ({}, ["--train.target=none", "--train.lr=0"], "train.lr must be a positive"),
    ({"model": {"name": "gpt"}}, [], "unknown model 'gpt'"),
    ({}, ["--task.n_pairs=0"], "n_pairs must be in"),
    ({}, ["--model.d_model"], "has no value"),
])
def test_bad_configs(file, flags, match):
    with pytest.raises(ValueError, match=match):
        resolve(file, parse_dotted(flags))


def test_bad_toml(tmp_path):
    (tmp_path / "x.toml").write_text("[model\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        read_toml(tmp_path / "x.toml")
