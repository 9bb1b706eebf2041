"""Invalid task configs raise ValueError naming the field and the constraint."""

import pytest

from fastweights.tasks import build

CASES = [
    ("assoc-retrieval", {"n_pairs": 27}, "n_pairs"),
    ("capacity", {"n_keys": 0}, "n_keys"),
    ("capacity", {"n_values": 1}, "n_values"),
    ("capacity", {"n_queries": 30}, "n_queries must be in 1..n_keys"),
    ("capacity", {"loss": "l1"}, "loss must be"),
    ("mqar", {"n_pairs": 20, "seq_len": 64}, r"seq_len must be >= 4 \* n_pairs"),
    ("mqar", {"vocab_size": 64, "seq_len": 64}, "vocab_size must be > seq_len"),
    ("mqar", {"seq_len": 63, "vocab_size": 100}, "seq_len must be even"),
    ("mqar", {"n_pairs": 0}, "n_pairs must be >= 1"),
    ("mqar", {"power_a": 0.0}, "power_a"),
    ("mqar-overwrite", {"n_pairs": 8, "n_overwrites": 9, "seq_len": 128, "vocab_size": 200},
     "n_overwrites must be in 0..n_pairs"),
    ("mqar-overwrite", {"n_pairs": 12, "n_overwrites": 10}, "seq_len must be >= 2"),
    ("mqar-overwrite", {"vocab_size": 50}, "vocab_size must be > seq_len"),
    ("selective-copy", {"n_copy": 40, "context_len": 32}, "context_len must be >= n_copy"),
    ("selective-copy", {"n_symbols": 1}, "n_symbols"),
    ("noisy-recall", {"n_values": 1}, "n_values must be >= 2"),
    ("noisy-recall", {"n_noise_tokens": -1}, "n_noise_tokens"),
    ("fuzzy-recall", {"n_key_tokens": 2, "key_len": 2, "n_keys": 4},
     "key vocabulary too small"),
    ("fuzzy-recall", {"value_len": 0}, "value_len"),
    ("copy", {"delay": 0}, "delay must be >= 1"),
    ("copy", {"n_copy": 0}, "n_copy"),
    ("copy", {"long_delay": 0}, "long_delay"),
    ("hds", {"system": "lorenz"}, "system must be one of"),
    ("hds", {"n_vectors": 0}, "n_vectors"),
    ("hds", {"horizon": 0}, "horizon"),
    ("formal-lang", {"language": "dyck-2"}, "language must be one of"),
    ("formal-lang", {"min_len": 10, "max_len": 5}, "min_len and max_len"),
    ("formal-lang", {"language": "abab-star", "min_len": 5, "max_len": 7},
     "holds no length of a abab-star string"),
    ("formal-lang", {"language": "counter-3", "test_min_len": 100, "test_max_len": 101},
     "test_min_len..test_max_len"),
    ("state-tracking", {"problem": "s4"}, "problem must be one of"),
    ("state-tracking", {"min_len": 0}, "min_len and max_len"),
    ("state-tracking", {"test_min_len": 300, "test_max_len": 200},
     "test_min_len and test_max_len"),
    ("state-tracking", {"problem": "mod-arith", "min_len": 5, "max_len": 5},
     "must contain an even length"),
    ("state-tracking", {"modulus": 1}, "modulus"),
    ("icl-regression", {"dim": 0}, "dim"),
    ("icl-regression", {"noise_std": -1.0}, "noise_std"),
    ("delayed-match", {"delays": (0, 5)}, "delays must be"),
    ("delayed-match", {"delays": (6, 5)}, "delays must be"),
    ("delayed-match", {"test_delays": (0, 0)}, "test_delays must be"),
    ("delayed-match", {"decision": 0}, "decision must be >= 1"),
    ("delayed-match", {"n_stim": 1}, "n_stim"),
    ("char-lm", {"seq_len": 0}, "seq_len"),
    ("char-lm", {"test_fraction": 1.5}, "test_fraction"),
    ("char-lm", {"test_fraction": 1e-6}, "fewer than seq_len"),
    ("mqar", {"test_size": 0}, "test_size"),
]


@pytest.mark.parametrize("name, config, match", CASES,
                         ids=[f"{n}-{'-'.join(c)}" for n, c, _ in CASES])
def test_invalid_config_raises_value_error_naming_the_field(name, config, match):
    with pytest.raises(ValueError, match=match) as info:
        build(name, **config)
    assert str(info.value).startswith(f"{name}: ")
