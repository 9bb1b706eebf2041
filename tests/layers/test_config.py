"""Layer configs check their fields' types when built."""

import pytest

from fastweights.layers import AttentionConfig, FastWeightConfig
from fastweights.layers.plasticity import BaFastWeightsConfig, PlasticRNNConfig
from fastweights.layers.recurrent_fwp import RDNConfig, RecurrentFWPConfig
from fastweights.layers.rnn import ElmanConfig
from fastweights.layers.srwm import SRWMConfig
from fastweights.layers.stpn import STPNConfig
from fastweights.layers.waves import TWMConfig, WaveRNNConfig

CONFIGS = [AttentionConfig, FastWeightConfig, BaFastWeightsConfig, PlasticRNNConfig,
           RDNConfig, RecurrentFWPConfig, ElmanConfig, SRWMConfig, STPNConfig, TWMConfig,
           WaveRNNConfig]


@pytest.mark.parametrize("cls", CONFIGS)
@pytest.mark.parametrize("value", ["32", 32.0, True, None])
def test_d_model_must_be_an_int(cls, value):
    cls()  # the defaults run
    with pytest.raises(ValueError, match=rf"{cls.__name__}\.d_model must be int"):
        cls(d_model=value)


def test_optional_and_float_fields():
    assert STPNConfig(clamp=1).clamp == 1
    with pytest.raises(ValueError, match="clamp"):
        STPNConfig(clamp="1")
    with pytest.raises(ValueError, match="rope_base"):
        AttentionConfig(rope_base=float("inf"))
