"""Masking of personal data for callers outside its scope."""

from __future__ import annotations


def mask_name(name: str) -> str:
    """Keep the first character (the family name in Chinese), mask the rest: 张三丰 → 张**."""
    if not name:
        return name
    if len(name) == 1:
        return "*"
    return name[0] + "*" * min(len(name) - 1, 4)


def mask_identifier(value: str) -> str:
    """Keep the first two and last two characters of an id number, mask the middle."""
    if len(value) <= 4:
        return "*" * len(value)
    return value[:2] + "*" * (len(value) - 4) + value[-2:]


def mask_display_name(name: str) -> str:
    """A buyer as viewers see them in a ticker: first character, then asterisks (李** )."""
    return mask_name(name.strip()) or "*"
