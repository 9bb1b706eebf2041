"""The transformers wrapper against the registry model it wraps: loss, generation equals the
plain ``model.step`` loop, chunked prefill equals stepping, left padding, save/load."""

import dataclasses

import pytest
import torch

pytest.importorskip("transformers", reason="the hf extra is not installed")

from transformers import AutoConfig, AutoModelForCausalLM  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

import fastweights.hf  # noqa: E402, F401  (registers the Auto classes)
from fastweights import models  # noqa: E402
from fastweights.hf import FastWeightsCache, FastWeightsConfig  # noqa: E402
from fastweights.sampling import sample  # noqa: E402

hf_logging.disable_progress_bar()
VOCAB = 11
NAMES = list(models.MODELS)


def tiny(name: str) -> dict:
    """A config of a few thousand parameters."""
    fields = {f.name for f in dataclasses.fields(models.MODELS[name].config)}
    small = {"d_model": 16, "n_layers": 1, "n_heads": 2, "favor_features": 8, "max_len": 64}
    return {k: v for k, v in small.items() if k in fields}


def build(name: str, seed: int = 0):
    torch.manual_seed(seed)
    config = FastWeightsConfig(model=name, vocab_size=VOCAB, model_config=tiny(name))
    return AutoModelForCausalLM.from_config(config).eval()


def prompts(batch: int = 2, length: int = 5, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, length), generator=torch.Generator().manual_seed(seed))


def test_tiny_configs_are_tiny():
    sizes = {name: build(name).num_parameters() for name in NAMES}
    assert max(sizes.values()) < 20_000, sizes


@pytest.mark.parametrize("name", NAMES)
def test_from_config_trains_a_step_with_labels(name):
    lm = build(name).train()
    x = prompts(2, 6)
    out = lm(x, labels=x)
    want = torch.nn.functional.cross_entropy(out.logits[:, :-1].flatten(0, 1), x[:, 1:].flatten())
    torch.testing.assert_close(out.loss, want)
    before = [p.detach().clone() for p in lm.parameters()]
    out.loss.backward()
    torch.optim.AdamW(lm.parameters(), lr=1e-2).step()
    assert any(not torch.equal(a, b) for a, b in zip(before, lm.parameters(), strict=True))
    assert lm(x, labels=x).loss.isfinite()


@pytest.mark.parametrize("name", NAMES)
def test_generate_equals_stepping(name):
    lm, x = build(name), prompts()
    greedy = lm.generate(x, max_new_tokens=6, do_sample=False)
    steps = torch.stack(list(sample(lm.model, x, 6, temperature=0)), dim=1)
    assert torch.equal(greedy, torch.cat([x, steps], dim=1))
    torch.manual_seed(3)
    drawn = lm.generate(x, max_new_tokens=6, do_sample=True, temperature=0.7, top_k=0)
    g = torch.Generator().manual_seed(3)
    steps = torch.stack(list(sample(lm.model, x, 6, temperature=0.7, generator=g)), dim=1)
    assert torch.equal(drawn, torch.cat([x, steps], dim=1))


@pytest.mark.parametrize("name", NAMES)
def test_chunked_prefill_equals_stepping(name):
    lm, x = build(name), prompts(2, 7)
    with torch.no_grad():
        whole = lm(x).logits
        cache = FastWeightsCache()
        chunks = torch.cat([lm(c, cache=cache).logits for c in x.split(3, dim=1)], dim=1)
        cache = FastWeightsCache()
        steps = torch.cat([lm(c, cache=cache).logits for c in x.split(1, dim=1)], dim=1)
    assert cache.get_seq_length() == 7
    torch.testing.assert_close(chunks, steps, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(whole, steps, rtol=1e-4, atol=1e-5)
    chunked = lm.generate(x, max_new_tokens=5, do_sample=False, prefill_chunk_size=3)
    assert torch.equal(chunked, lm.generate(x, max_new_tokens=5, do_sample=False))


def test_generate_continues_from_a_returned_cache():
    lm, x = build("deltanet"), prompts()
    whole = lm.generate(x, max_new_tokens=8, do_sample=False)
    first = lm.generate(x, max_new_tokens=4, do_sample=False, return_dict_in_generate=True)
    assert first.cache.get_seq_length() == 5 + 3  # the last token drawn is not yet fed
    more = lm.generate(first.sequences, cache=first.cache, max_new_tokens=4, do_sample=False)
    assert torch.equal(more, whole)


@pytest.mark.parametrize("name", NAMES)
def test_left_padding_continues_as_alone(name):
    lm = build(name)
    long, short = prompts(1, 6, seed=4)[0], prompts(1, 3, seed=5)[0]
    pad = 0
    batch = torch.stack([long, torch.cat([torch.full((3,), pad), short])])
    mask = torch.tensor([[1] * 6, [0, 0, 0, 1, 1, 1]])
    both = lm.generate(batch, attention_mask=mask, max_new_tokens=5, do_sample=False,
                       pad_token_id=pad)
    alone = [lm.generate(p[None], max_new_tokens=5, do_sample=False) for p in (long, short)]
    assert torch.equal(both[0, 6:], alone[0][0, 6:])
    assert torch.equal(both[1, 6:], alone[1][0, 3:])


@pytest.mark.parametrize("name", ["deltanet", "lstm", "transformer", "stpn"])
def test_beams_and_return_sequences_reorder_the_state(name):
    lm, x = build(name), prompts(2, 4)
    greedy = lm.generate(x, max_new_tokens=5, do_sample=False)
    wide = lm.generate(x, max_new_tokens=5, do_sample=False, num_return_sequences=3,
                       num_beams=3)
    assert wide.shape == (6, 9)
    one_beam = lm.generate(x, max_new_tokens=5, do_sample=False, num_beams=1)
    assert torch.equal(one_beam, greedy)
    torch.manual_seed(0)
    drawn = lm.generate(x, max_new_tokens=5, do_sample=True, top_k=0, num_return_sequences=2)
    torch.manual_seed(0)
    rows = torch.repeat_interleave(x, 2, dim=0)
    steps = torch.stack(list(sample(lm.model, rows, 5, generator=torch.default_generator)),
                        dim=1)
    assert torch.equal(drawn, torch.cat([rows, steps], dim=1))


@pytest.mark.parametrize("name", NAMES)
def test_save_and_load_give_equal_logits(name, tmp_path):
    lm, x = build(name), prompts()
    lm.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert AutoConfig.from_pretrained(tmp_path).model == name
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        # equal up to float rounding: loaded tensors may sit at differently aligned addresses
        torch.testing.assert_close(loaded(x).logits, lm(x).logits, rtol=1e-6, atol=1e-6)


def test_config_rejects_what_no_language_model_can_be():
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        FastWeightsConfig(model="nope")
    with pytest.raises(ValueError, match="differs from vocab_size"):
        FastWeightsConfig(model="lstm", vocab_size=8, model_config={"output_size": 9})
    with pytest.raises(ValueError, match="token ids"):
        FastWeightsConfig(model="lstm", model_config={"tokens": False})
    with pytest.raises(ValueError, match="no config field"):
        FastWeightsConfig(model="lstm", model_config={"width": 3})


def test_cache_cannot_be_rolled_back():
    with pytest.raises(ValueError, match="cannot be rolled back"):
        FastWeightsCache().crop(-1)
