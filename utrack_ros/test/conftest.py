"""Test-wide settings."""

import torch

# One intra-op thread: bitwise-repeatable CPU kernels, and no stalls when another process
# (a training run, a parallel job) shares this 2-core machine.
torch.set_num_threads(1)
