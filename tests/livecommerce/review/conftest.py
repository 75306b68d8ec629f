"""Review tests write the relay's `viewers.updated` events themselves at scripted times, so the app's own coalescer is kept quiet."""

from __future__ import annotations

import pytest

from livecommerce.kit.clock import Clock, FrozenClock
from livecommerce.kit.settings import Settings
from tests.livecommerce.review.support import MINUTE0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"relay_coalesce_interval_seconds": 3600.0})


@pytest.fixture
def clock() -> Clock:
    return FrozenClock(MINUTE0)
