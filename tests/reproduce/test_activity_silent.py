"""The activity-silent criterion, on made-up network results."""

from fastweights.reproduce.activity_silent import verdict


def _net(condition, activity, synaptic, chance=0.15, accuracy=0.95):
    steps = [90, 95]
    curve = lambda v, c=chance: {"accuracy": [v, v], "chance_hi": [c, c],  # noqa: E731
                                 "steps": steps}
    return {"condition": condition, "accuracy": accuracy,
            "curves": {"activity": curve(activity), "synaptic efficacy": curve(synaptic)}}


def test_verdicts():
    end = (90, 100)
    silent_dms = [_net("DMS", 0.13, 1.0) for _ in range(5)]
    active_dmrs = [_net("DMRS90", 0.6, 1.0) for _ in range(5)]
    assert verdict(silent_dms + active_dmrs, end)[0] == "reproduced"
    active_dms = [_net("DMS", 0.45, 1.0) for _ in range(5)]
    assert verdict(active_dms + active_dmrs, end)[0] == "partly reproduced"
    weak_synapses = [_net("DMS", 0.13, 0.5) for _ in range(5)]
    assert verdict(weak_synapses + active_dmrs, end)[0] == "not reproduced"
    # untrained networks do not count: only 2 of the 5 DMS networks below are trained
    mixed = [_net("DMS", 0.13, 1.0)] * 2 + [_net("DMS", 0.5, 1.0, accuracy=0.5)] * 3
    v, c = verdict(mixed + active_dmrs, end)
    assert c["n_dms"] == 2 and c["silent"] == 2 and v == "reproduced"
