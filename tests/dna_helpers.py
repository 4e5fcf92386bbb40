"""Shared fixtures for the DNA tests (not a test module)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    # Tiny convolutions on a shared 2-core machine run far faster on one thread than on two
    # (no spin-waiting for a busy sibling core); restore the setting for other modules.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
