"""Fixtures for the security tests: settings that let one test book many broadcasts."""

from __future__ import annotations

import pytest

from livecommerce.kit.settings import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared test settings with booking limits lifted, so a test can book as often as it needs."""
    return settings.model_copy(
        update={"booking_min_notice_minutes": 0, "anchor_max_broadcasts_per_week": 10_000, "anchor_max_air_minutes_per_day": 1440}
    )
