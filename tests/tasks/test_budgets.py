"""Every registered task declares a budget that learns, as valid `fastweights train` flags;
the cheapest tasks learn well above chance with their budget scaled down."""

import pytest

from fastweights import cli, models
from fastweights.tasks import TASKS, TrainBudget, build, describe
from fastweights.train.config import MAX_STEPS_ENV, Experiment, TrainConfig
from fastweights.train.supervised import train

NAMES = sorted(TASKS)


@pytest.mark.parametrize("name", NAMES)
def test_every_task_declares_a_budget_that_beats_chance(name):
    task = build(name)
    budget = task.budget
    assert isinstance(budget, TrainBudget), f"{name} declares no TrainBudget"
    assert budget.model in models.MODELS
    beats = budget.metric > budget.chance if task.higher_is_better else \
        budget.metric < budget.chance
    assert beats, (name, budget)
    assert f"budget that learns: {' '.join(budget.flags()[2:])} ({budget.model}: " \
           f"{task.main_metric} " in describe(name)


@pytest.mark.parametrize("name", NAMES)
def test_budget_flags_are_what_train_resolves(name, monkeypatch):
    monkeypatch.delenv(MAX_STEPS_ENV, raising=False)
    budget = TASKS[name].budget
    args, rest = cli._parser().parse_known_args(["train", "--task", name, *budget.flags()])
    assert rest == []
    exp = cli._experiment(args, rest, args.model)
    assert (exp.model.name, exp.task.name) == (budget.model, name)
    assert exp.task.config == TASKS[name].Config(), "the budget is for the default config"
    t = exp.train
    assert (t.steps, t.batch_size, t.lr) == (budget.steps, budget.batch_size, budget.lr)
    assert t.eval_every == (budget.eval_every or TrainConfig().eval_every)


def test_budget_rejects_bad_values():
    with pytest.raises(ValueError, match="steps"):
        TrainBudget("deltanet", steps=0, batch_size=8, lr=1e-2, metric=1.0, chance=0.1,
                    seconds=1.0)
    with pytest.raises(ValueError, match="lr"):
        TrainBudget("deltanet", steps=10, batch_size=8, lr=0.0, metric=1.0, chance=0.1,
                    seconds=1.0)


# the cheapest tasks, with their budget's model and lr, fewer steps, a smaller batch and test
# set, and a margin above chance that such a run clears (measured: noisy-recall 0.74 against
# chance 0.125, assoc-retrieval 0.33 against 0.1, in about 6 and 12 s on a loaded CPU)
CHEAP = [("noisy-recall", 60, 16, 0.4), ("assoc-retrieval", 200, 16, 0.15)]


@pytest.mark.parametrize("name, steps, batch_size, margin", CHEAP)
def test_cheap_tasks_learn_with_their_budget(name, steps, batch_size, margin):
    budget = TASKS[name].budget
    exp = Experiment.make(budget.model, name, task_fields={"test_size": 256}, train=TrainConfig(
        steps=steps, batch_size=batch_size, lr=budget.lr, eval_every=steps, threads=1))
    metric = train(exp, progress=False)["final"][f"test/{TASKS[name].main_metric}"]
    assert metric > budget.chance + margin, (name, metric, budget.chance)
