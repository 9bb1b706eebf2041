"""formal-lang: every string is in its language and every target is the set of valid next
characters, both checked by plain-Python definitions of the languages written here."""

import itertools
import re

import pytest
import torch

from fastweights.tasks import build
from fastweights.tasks.formal_lang import ALPHABETS


def _depths_ok(s, pairs):
    """Every bracket type's count never goes negative; returns the final depths."""
    depth = dict.fromkeys(pairs, 0)
    for ch in s:
        for o, c in pairs:
            if ch == o:
                depth[(o, c)] += 1
            elif ch == c:
                depth[(o, c)] -= 1
                if depth[(o, c)] < 0:
                    return None
    return depth


def member(lang, s):
    if lang == "parity":
        return set(s) <= {"0", "1"} and s.count("1") % 2 == 0
    if lang == "aa-star":
        return re.fullmatch(r"(aa)*", s) is not None
    if lang == "abab-star":
        return re.fullmatch(r"(abab)*", s) is not None
    if lang == "counter-2":
        n = len(s) // 2
        return n >= 1 and s == "a" * n + "b" * n
    if lang == "counter-3":
        n = len(s) // 3
        return n >= 1 and s == "a" * n + "b" * n + "c" * n
    if lang in ("dyck-1", "shuffle-2"):
        pairs = [("(", ")")] if lang == "dyck-1" else [("(", ")"), ("[", "]")]
        if not set(s) <= {ch for p in pairs for ch in p}:
            return False
        depth = _depths_ok(s, pairs)
        return depth is not None and all(d == 0 for d in depth.values())
    if lang == "reset-dyck":
        return set(s) <= set("()r") and member("dyck-1", s.split("r")[-1]) and all(
            _depths_ok(part, [("(", ")")]) is not None for part in s.split("r"))
    raise AssertionError(lang)


def prefix(lang, s):
    """Whether s can be extended to a string of the language."""
    if lang == "parity":
        return set(s) <= {"0", "1"}
    if lang == "aa-star":
        return set(s) <= {"a"}
    if lang == "abab-star":
        return s == ("abab" * len(s))[: len(s)]
    if lang == "counter-2":
        m = re.fullmatch(r"(a*)(b*)", s)
        return m is not None and len(m[2]) <= len(m[1]) and (len(m[2]) == 0 or len(m[1]) > 0)
    if lang == "counter-3":
        m = re.fullmatch(r"(a*)(b*)(c*)", s)
        if m is None:
            return False
        a, b, c = map(len, m.groups())
        return b <= a and c <= a and (c == 0 or b == a)
    if lang in ("dyck-1", "shuffle-2"):
        pairs = [("(", ")")] if lang == "dyck-1" else [("(", ")"), ("[", "]")]
        return set(s) <= {ch for p in pairs for ch in p} and _depths_ok(s, pairs) is not None
    if lang == "reset-dyck":
        return set(s) <= set("()r") and all(
            _depths_ok(part, [("(", ")")]) is not None for part in s.split("r"))
    raise AssertionError(lang)


def next_set(lang, s):
    chars = {ch for ch in ALPHABETS[lang] if prefix(lang, s + ch)}
    return chars | ({"$"} if member(lang, s) else set())


@pytest.mark.parametrize("lang", sorted(ALPHABETS))
def test_prefix_oracle_agrees_with_membership_on_short_strings(lang):
    """The prefix definitions above, checked against brute-force completion."""
    alphabet = ALPHABETS[lang]
    bound = 9 if len(alphabet) <= 3 else 8
    members = {"".join(w) for n in range(bound + 1)
               for w in itertools.product(alphabet, repeat=n) if member(lang, "".join(w))}
    completable = {m[:i] for m in members for i in range(len(m) + 1)}
    for n in range(4):
        for w in itertools.product(alphabet, repeat=n):
            s = "".join(w)
            assert prefix(lang, s) == (s in completable), (lang, s)


@pytest.mark.parametrize("lang", sorted(ALPHABETS))
def test_strings_are_members_and_targets_are_next_sets(lang):
    task = build("formal-lang", language=lang, min_len=1, max_len=24)
    x, y = task.sample(150, torch.Generator().manual_seed(5))
    symbols = task.alphabet + "$"
    assert (x[:, 0] == task.bos).all()
    for xi, yi in zip(x.tolist(), y, strict=True):
        s = "".join(task.alphabet[i] for i in xi[1:] if i < task.bos)
        assert member(lang, s), (lang, s)
        assert all(i == task.pad for i in xi[1 + len(s):])
        for i in range(len(s) + 1):
            got = {ch for ch, on in zip(symbols, yi[i].tolist(), strict=True) if on == 1}
            assert got == next_set(lang, s[:i]), (lang, s, i)
        assert torch.isnan(yi[len(s) + 1:]).all()


@pytest.mark.parametrize("lang", sorted(ALPHABETS))
def test_length_protocol(lang):
    task = build("formal-lang", language=lang)
    for key, lo, hi in (("test", 1, 50), ("test_long", 51, 100)):
        x, _ = task.eval_sets()[key]
        lengths = ((x != task.pad).sum(dim=1) - 1).tolist()
        assert lo <= min(lengths) and max(lengths) <= hi, (key, min(lengths), max(lengths))


def test_sequence_accuracy_needs_every_set_right():
    task = build("formal-lang", language="dyck-1", min_len=4, max_len=4)
    x, y = task.sample(8, torch.Generator().manual_seed(0))
    logits = 10 * (2 * y.nan_to_num() - 1)
    assert task.metrics(logits, y)["sequence_accuracy"] == 1.0
    logits[0, 2, 0] *= -1  # one wrong label in one string
    m = task.metrics(logits, y)
    assert m["sequence_accuracy"] == pytest.approx(7 / 8)
    assert m["accuracy"] == pytest.approx(1 - 1 / 40)
