"""The RL step: memory carried and reset, GAE, learning, PPO, SIGKILL + resume, errors."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from torch import nn

from fastweights.models.state import ModelState
from fastweights.train import rl
from fastweights.train.rl import Agent, RLConfig, RLStep, gae

DELAY = 3


class CueCounter(nn.Module):
    """A hand-built recurrent policy for cue-recall: its state remembers the cue (±1) and
    counts the steps of the episode; it answers at the last step (the delay + 2-th)."""

    def __init__(self, memory: bool = True):
        super().__init__()
        self.memory = memory
        self.unused = nn.Parameter(torch.zeros(()))  # something for the optimiser to hold

    def forward(self, x, state=None, return_intermediates=False):
        B = x.shape[0]
        if state is None:
            state = ModelState({"cue": torch.zeros(B, 1), "t": torch.zeros(B, 1)})
        seen = x[:, 0, 1:2] - x[:, 0, 0:1]  # +1 for cue 1, −1 for cue 0, 0 when blank
        cue, t = (state["cue"] + seen, state["t"] + 1) if self.memory else (seen, state["t"])
        answer = (t == DELAY + 2).float() * 20 * cue
        y = torch.cat([-answer, answer, torch.zeros(B, 1)], -1) + 0 * self.unused
        out = ModelState({"cue": cue, "t": t})
        return (y.unsqueeze(1), out, None) if return_intermediates else (y.unsqueeze(1), out)

    def state_size(self):
        return 2


def _cue_step(policy: nn.Module, num_envs: int = 64) -> RLStep:
    cfg = RLConfig(env="cue-recall", model="rnn", num_envs=num_envs, rollout=2 * (DELAY + 2),
                   eval_envs=256, lr=1e-9, env_config={"delay": DELAY})
    step = RLStep(cfg)
    step.agent = Agent(policy, step.env.action_space)
    step.opt = torch.optim.SGD(step.agent.parameters(), lr=0.0)
    return step


def _training_returns(step: RLStep, updates: int = 4) -> list[float]:
    returns = []
    for _ in range(updates):
        step.train_step()
        returns += step.finished
    return returns


def test_hand_built_memory_policy_solves_what_a_memoryless_one_cannot(monkeypatch):
    memory = _cue_step(CueCounter(memory=True))
    assert memory.evaluate()["test/return"] == 1.0
    returns = _training_returns(memory)  # many episodes back to back in each environment
    assert len(returns) == 4 * 64 * 2 and all(r == 1.0 for r in returns)
    # without memory the last observation says nothing about the cue: chance level
    memoryless = _cue_step(CueCounter(memory=False))
    assert abs(memoryless.evaluate()["test/return"] - 0.5) < 0.1
    assert abs(np.mean(_training_returns(memoryless)) - 0.5) < 0.1
    # a rollout that forgot to reset the state at episode ends would leave the memory policy
    # at chance after each environment's first episode
    monkeypatch.setattr(rl, "reset_state", lambda state, mask: state)
    broken = _training_returns(_cue_step(CueCounter(memory=True)))
    assert broken[:64] == [1.0] * 64 and abs(np.mean(broken[64:]) - 0.5) < 0.1


def test_registry_models_reset_rows_of_their_state():
    torch.manual_seed(0)
    for name in ("stpn", "lstm", "rnn", "plastic-rnn", "fast-weights-ba"):
        step = RLStep(RLConfig(env="cue-recall", model=name, num_envs=3, rollout=4,
                               model_config={"d_model": 8}))
        agent = step.agent
        obs = torch.randn(3, 2)
        _, _, state = agent(obs, None)
        _, _, state = agent(obs, state)
        fresh = agent(obs, None)[0]
        state = rl.reset_state(state, torch.tensor([False, True, False]))
        out = agent(obs, state)[0]
        torch.testing.assert_close(out[1], fresh[1])
        assert not torch.allclose(out[0], fresh[0])


def test_gae_by_hand():
    rewards = torch.tensor([[1.0], [0.0], [2.0]])
    values = torch.tensor([[0.5], [1.0], [0.0]])
    dones = torch.tensor([[0.0], [1.0], [0.0]])
    adv, ret = gae(rewards, values, dones, torch.tensor([3.0]), gamma=0.5, lam=1.0)
    # step 2 bootstraps V = 3; step 1 ends an episode; step 0 sees step 1's return
    torch.testing.assert_close(ret[:, 0], torch.tensor([1.0, 0.0, 3.5]))
    torch.testing.assert_close(adv, ret - values)
    adv, _ = gae(rewards, values, dones, torch.tensor([3.0]), gamma=0.5, lam=0.0)
    torch.testing.assert_close(adv[:, 0], torch.tensor([1.0 + 0.5 - 0.5, -1.0, 3.5]))


def test_a2c_learns_cue_recall():
    cfg = RLConfig(env="cue-recall", model="lstm", num_envs=32, rollout=6, steps=32 * 6 * 300,
                   lr=1e-2, gamma=0.9, value_coef=0.5, entropy_coef=0.01,
                   regulariser="entropy", eval_every=300, eval_envs=256,
                   model_config={"d_model": 16}, env_config={"delay": 1})
    result = rl.train_rl(cfg, progress=False)
    assert result["final"]["test/return"] > 0.9


@pytest.mark.parametrize("env", ["cartpole-memory", "pendulum-memory"])
def test_ppo_runs_discrete_and_continuous(env):
    if env == "pendulum-memory":
        pytest.importorskip("mujoco")
    cfg = RLConfig(env=env, model="stpn", algo="ppo", num_envs=4, rollout=8, steps=64,
                   minibatches=2, epochs=2, eval_every=1, eval_envs=2, gamma=0.99,
                   gae_lambda=0.95, model_config={"d_model": 8}, env_config={})
    if env == "cartpole-memory":
        cfg.env_config = {"max_steps": 20}
    result = rl.train_rl(cfg, progress=False)
    row = result["final"]
    assert result["agent_steps"] == row["agent_steps"] == 64
    assert row["test/return"] > 0 and "test/energy" in row
    assert all(np.isfinite(v) for k, v in row.items() if isinstance(v, float))


def test_same_seed_same_run():
    cfg = RLConfig(env="maze", model="rnn", num_envs=2, rollout=5, steps=40, eval_every=2,
                   eval_envs=2, model_config={"d_model": 8}, env_config={"episode_length": 7})
    a, b = rl.train_rl(cfg, progress=False), rl.train_rl(cfg, progress=False)
    strip = [{k: v for k, v in r.items() if k != "time"} for r in a["history"]]
    assert strip == [{k: v for k, v in r.items() if k != "time"} for r in b["history"]]


def test_bad_config_raises():
    with pytest.raises(ValueError, match="rl.algo"):
        RLConfig(algo="dqn")
    with pytest.raises(ValueError, match="minibatches"):
        RLConfig(algo="ppo", num_envs=2, minibatches=4)
    with pytest.raises(ValueError, match="rl.rollout"):
        RLConfig(rollout=0)


def _rows(path):
    return [{k: v for k, v in json.loads(line).items() if k != "time"}
            for line in path.read_text().splitlines()]


def test_cli_sigkill_then_resume_equals_uninterrupted(tmp_path):
    args = ["rl", "--env", "maze", "--model", "stpn", "--steps", "2000", "--num-envs", "4",
            "--rollout", "10", "--eval-every", "5", "--rl.eval_envs=2", "--model.d_model=16",
            "--quiet"]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "fastweights", *args, "--out", str(killed)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    metrics, start = killed / "metrics.jsonl", time.time()
    while not (metrics.exists() and metrics.read_text().count("\n") >= 3):
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() - start < 120, "timed out"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "result.json").exists()
    from fastweights.cli import main

    assert main(["rl", "--resume", str(killed), "--quiet"]) == 0
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    whole = _rows(tmp_path / "whole" / "metrics.jsonl")
    assert len(whole) == 10 and _rows(metrics) == whole
    assert (killed / "returns.png").stat().st_size > 0
    ckpt = torch.load(killed / "ckpt.pt", weights_only=True)  # plain data only: no code runs
    assert ckpt["step"] == 50 and "model" in ckpt  # the last update
    assert "test/energy" in whole[-1]


def test_cli_rejects_bad_flags(capsys):
    from fastweights.cli import main

    with pytest.raises(SystemExit):
        main(["rl", "--model.nope=1"])
    assert "unknown key model.nope" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["rl", "--env", "nope"])
    assert "unknown environment" in capsys.readouterr().err
