"""Fixtures of the pruning tests."""

import pytest

from learners.pruning.graph import LAYER_HANDLERS


@pytest.fixture
def restore_handlers():
    """Lets a test register handlers; the table is as it was afterwards."""
    saved = dict(LAYER_HANDLERS)
    yield
    LAYER_HANDLERS.clear()
    LAYER_HANDLERS.update(saved)
