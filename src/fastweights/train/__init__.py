"""Training: configs, the loop, checkpoints, sweeps, comparisons, data-parallel launch."""
