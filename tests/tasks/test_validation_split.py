"""The optional validation split: drawn apart from train and test, and changing nothing
else about a task when it is off."""

import pytest
import torch

from fastweights import tasks

NAMES = ["assoc-retrieval", "copy", "formal-lang", "hds", "mqar", "state-tracking"]


def _same(a, b):
    return all(torch.equal(x.nan_to_num(-7.0), y.nan_to_num(-7.0))
               for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("name", NAMES)
def test_validation_set_is_first_and_leaves_the_other_sets_unchanged(name):
    plain = tasks.build(name, test_size=16)
    with_val = tasks.build(name, test_size=16, val_size=8)
    sets, sets_val = plain.eval_sets(), with_val.eval_sets()
    assert "val" not in sets
    assert list(sets_val) == ["val", *sets]
    assert all(_same(sets[k], sets_val[k]) for k in sets)
    assert len(sets_val["val"][0]) == 8
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    assert _same(plain.train_batch(4, g1), with_val.train_batch(4, g2))


def test_validation_set_differs_from_test_and_fixed_train_set():
    t = tasks.build("assoc-retrieval", test_size=64, val_size=64, train_size=64)
    val, test = t.val_set(), t.test_set()
    train = t.train_batch(64, torch.Generator().manual_seed(0))
    assert not torch.equal(val[0], test[0])
    assert not torch.equal(val[0], train[0])


def test_bad_val_size_and_missing_set_are_value_errors():
    with pytest.raises(ValueError, match="val_size"):
        tasks.build("copy", val_size=-1)
    with pytest.raises(ValueError, match="no validation set"):
        tasks.build("copy").val_set()
