"""Exact division of an amount among parties by basis points."""

from __future__ import annotations

from collections.abc import Sequence

TOTAL_BP = 10000


def allocate(amount_fen: int, splits: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """Each party's share of `amount_fen`, in the order given, summing to `amount_fen` exactly.

    Largest-remainder method: everyone gets the floor of their exact share, and the fen left
    over go one each to the largest fractional remainders. Ties go to the party whose name
    sorts first, so the result depends only on the amount and the set of splits, never on
    their order. Each share is within one fen of the exact proportion.
    """
    if amount_fen < 0:
        raise ValueError("cannot allocate a negative amount")
    parties = [party for party, _ in splits]
    if len(set(parties)) != len(parties):
        raise ValueError("each party may appear only once in splits")
    if any(bp <= 0 for _, bp in splits) or sum(bp for _, bp in splits) != TOTAL_BP:
        raise ValueError(f"split basis points must be positive and sum to {TOTAL_BP}")
    floors = [amount_fen * bp // TOTAL_BP for _, bp in splits]
    remainders = [amount_fen * bp % TOTAL_BP for _, bp in splits]
    left = amount_fen - sum(floors)
    by_claim = sorted(range(len(splits)), key=lambda i: (-remainders[i], parties[i]))
    for i in by_claim[:left]:
        floors[i] += 1
    return list(zip(parties, floors, strict=True))
