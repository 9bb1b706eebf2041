"""Each installed peer computes our rule: its output matches our recurrent reference."""

import pytest
import torch

from fastweights.bench import ops as bench_ops
from fastweights.bench import peers


@pytest.mark.parametrize("peer", peers.PEERS, ids=lambda p: p.name)
def test_peer_matches_reference(peer):
    fn, why = peers.available(peer)
    if fn is None:
        pytest.skip(why)
    assert bench_ops.peer_gate(peer, fn) <= 1e-4


def test_every_variant_of_a_peer_is_benchmarked():
    variants = {bench_ops.dispatch.variant(c.case.rule, c.inputs(1, 2, 1, 4, 4, torch.float32))
                for c in bench_ops.CASES}
    assert {p.variant for p in peers.PEERS} <= variants
