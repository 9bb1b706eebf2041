"""The RL environments: layouts, dynamics against gymnasium, determinism, snapshots, errors."""

import numpy as np
import pytest

from fastweights import envs
from fastweights.envs.maze import Maze, MazeConfig, grid


def test_maze_layout_and_first_observation():
    lab = grid(13)
    assert lab.shape == (13, 13) and lab[0].all() and lab[:, -1].all()
    assert lab[2, 2] == 1 and lab[6, 6] == 0 and lab[1, 1] == 0
    env = Maze(num_envs=3, seed=0)
    assert len(env.open) == 97
    obs = env.reset()
    assert obs.shape == (3, 17)
    # the centre (6, 6) is an opened wall cell: its neighbours are all open
    np.testing.assert_array_equal(obs[0, :9], np.zeros(9))
    assert obs[0, 9] == 0 and obs[0, 10] == 1 and obs[0, 11] == 0 and obs[0, 12] == 0
    assert not obs[0, 13:].any()


def test_maze_wall_reward_and_teleport():
    env = Maze(num_envs=1, seed=0, config=MazeConfig(reward=10.0, wall_penalty=0.5))
    env.reset()
    env.pos[0] = (1, 1)
    obs, r, done, _ = env.step(np.array([0]))  # up into the border
    # the corner (1, 1): border above and left, the wall (2, 2) diagonally below
    np.testing.assert_array_equal(obs[0, :9], [1, 1, 1, 1, 0, 0, 1, 0, 1])
    assert r[0] == -0.5 and tuple(env.pos[0]) == (1, 1) and obs[0, 12] == -0.5
    assert obs[0, 13] == 1 and obs[0, 11] == pytest.approx(1 / 200)
    env.goal[0] = (1, 2)
    for _ in range(50):
        env.pos[0] = (1, 1)
        obs, r, done, _ = env.step(np.array([3]))  # right onto the goal
        assert r[0] == 10.0 and obs[0, 12] == 10.0
        assert tuple(env.pos[0]) != (1, 2)
        assert env.lab[tuple(env.pos[0])] == 0


def test_maze_episodes_end_together_and_goal_is_fixed():
    env = envs.make("maze", num_envs=4, seed=1, episode_length=10)
    env.reset()
    goal = env.goal.copy()
    for t in range(10):
        _, _, done, info = env.step(np.zeros(4, dtype=int))
        assert done.all() == (t == 9)
        if t < 9:
            np.testing.assert_array_equal(env.goal, goal)
    assert len(info["episodes"]) == 4 and all(n == 10 for _, n in info["episodes"])


@pytest.mark.parametrize("name", ["maze", "cartpole", "cartpole-memory", "cue-recall"])
def test_seeded_and_resumable(name):
    def run(env, actions):
        return [np.concatenate([np.ravel(x) for x in env.step(a)[:3]]) for a in actions]

    a = envs.make(name, num_envs=5, seed=3)
    space = a.action_space
    actions = np.random.default_rng(0).integers(0, space.n, (60, 5))
    a.reset()
    first = run(a, actions[:30])
    snap = a.state_dict()
    rest = run(a, actions[30:])
    b = envs.make(name, num_envs=5, seed=3)
    b.reset()
    np.testing.assert_array_equal(first, run(b, actions[:30]))
    c = envs.make(name, num_envs=5, seed=99)
    c.reset()
    c.load_state_dict(snap)
    np.testing.assert_array_equal(rest, run(c, actions[30:]))


def test_cartpole_matches_gymnasium():
    gym = pytest.importorskip("gymnasium")
    ref = gym.make("CartPole-v1").unwrapped
    ref.reset(seed=0)
    env = envs.make("cartpole", num_envs=1)
    env.reset()
    env.s[0] = ref.state = np.array([0.01, -0.02, 0.03, 0.04])
    for a in [1, 1, 0, 1, 0, 0, 0, 1, 1, 1]:
        o_ref, _, term_ref, _, _ = ref.step(a)
        obs, _, done, _ = env.step(np.array([a]))
        np.testing.assert_allclose(obs[0], o_ref, rtol=1e-5, atol=1e-6)
        assert done[0] == term_ref
    partial = envs.make("cartpole-memory", num_envs=2)
    assert partial.obs_size == 2 and partial.reset().shape == (2, 2)


def test_bad_input_raises():
    env = envs.make("maze", num_envs=2)
    env.reset()
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="integers in"):
        env.step(np.array([0, 4]))
    with pytest.raises(ValueError, match="unknown environment"):
        envs.make("nope")
    with pytest.raises(ValueError, match="no config field"):
        envs.make("maze", colour=1)
    with pytest.raises(ValueError, match="odd"):
        envs.make("maze", size=12)
    with pytest.raises(ValueError, match="num_envs"):
        envs.make("maze", num_envs=0)


def test_maze_is_a_gymnasium_env():
    gym = pytest.importorskip("gymnasium")
    from gymnasium.utils.env_checker import check_env

    env = gym.make("fastweights.envs.gym:fastweights/Maze-v0", episode_length=5)
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (17,)
    for t in range(5):
        obs, r, terminated, truncated, _ = env.step(0)
        assert not terminated and truncated == (t == 4)


def test_pendulum_memory_drops_velocities_and_snapshots():
    pytest.importorskip("mujoco")
    full = envs.make("pendulum", num_envs=1, seed=0)
    env = envs.make("pendulum-memory", num_envs=2, seed=0)
    np.testing.assert_array_equal(env.reset()[0], full.reset()[0][:2])
    assert env.obs_size == 2 and not env.action_space.discrete and env.action_space.high == 3
    push = np.full((2, 1), 0.5)
    env.step(push)
    snap = env.state_dict()
    after = [env.step(push)[0] for _ in range(5)]
    env.load_state_dict(snap)
    np.testing.assert_array_equal(after, [env.step(push)[0] for _ in range(5)])
    env.close()
    full.close()


def test_pong_runs_a_few_steps():
    pytest.importorskip("ale_py")
    env = envs.make("pong", num_envs=2, seed=0)
    obs = env.reset()
    assert obs.shape == (2, 1600) and 0 <= obs.min() and obs.max() <= 1
    assert env.action_space.discrete and env.action_space.n == 6
    for _ in range(5):
        obs, r, done, _ = env.step(np.array([0, 2]))
    assert obs.shape == (2, 1600) and r.shape == (2,)
    env.close()
