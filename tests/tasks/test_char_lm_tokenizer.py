import pytest

from fastweights.tasks.char_lm import CharLM, CharLMConfig


def test_tokenizer_round_trips_the_corpus_and_rejects_unknown_characters():
    task = CharLM(CharLMConfig(seq_len=16))
    text = task.decode(task.test_ids[:500])
    assert task.encode(text).tolist() == task.test_ids[:500].tolist()
    assert task.decode(task.encode(task.chars)) == task.chars
    with pytest.raises(ValueError, match="characters \\['\u2603'\\] are not in"):
        task.encode("snow\u2603man")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        task.decode([len(task.chars)])
