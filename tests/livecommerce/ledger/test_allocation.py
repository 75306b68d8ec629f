"""The split arithmetic: exact, fair to within a fen, deterministic."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livecommerce.ledger.allocation import allocate


@st.composite
def splits(draw: st.DrawFn) -> list[tuple[str, int]]:
    n = draw(st.integers(min_value=1, max_value=8))
    cuts = sorted(draw(st.lists(st.integers(min_value=1, max_value=9999), min_size=n - 1, max_size=n - 1, unique=True)))
    bounds = [0, *cuts, 10000]
    names = draw(st.permutations([f"household:{i}" for i in range(1, n)] + ["platform"]))
    return [(names[i], bounds[i + 1] - bounds[i]) for i in range(n)]


class TestAllocate:
    def test_one_fen_goes_to_one_party(self) -> None:
        shares = allocate(1, [("household:1", 3333), ("station:1", 3333), ("county:1", 3334)])
        assert shares == [("household:1", 0), ("station:1", 0), ("county:1", 1)]

    def test_thirds_of_a_prime_amount_add_up(self) -> None:
        shares = allocate(9973, [("household:1", 3333), ("station:1", 3333), ("county:1", 3334)])
        assert sum(s for _, s in shares) == 9973
        assert shares == [("household:1", 3324), ("station:1", 3324), ("county:1", 3325)]

    def test_equal_remainders_break_ties_by_party_name(self) -> None:
        # 2 fen in equal halves of a 3-way tie: the names sorting first win, whatever the order given.
        forward = allocate(2, [("platform", 3333), ("county:9", 3333), ("household:5", 3334)])
        backward = allocate(2, [("household:5", 3334), ("county:9", 3333), ("platform", 3333)])
        assert dict(forward) == dict(backward) == {"county:9": 1, "household:5": 1, "platform": 0}

    def test_whole_amount_to_a_sole_party(self) -> None:
        assert allocate(12345, [("platform", 10000)]) == [("platform", 12345)]

    def test_zero_amount_gives_zero_shares(self) -> None:
        assert allocate(0, [("household:1", 5000), ("platform", 5000)]) == [("household:1", 0), ("platform", 0)]

    @pytest.mark.parametrize("bad", [[("platform", 9999)], [("platform", 5000), ("platform", 5000)], [("a", 10001), ("b", -1)]])
    def test_splits_not_summing_to_10000_are_refused(self, bad: list[tuple[str, int]]) -> None:
        with pytest.raises(ValueError):
            allocate(100, bad)

    @given(amount=st.integers(min_value=0, max_value=10**12), split=splits())
    def test_shares_are_exact_fair_and_deterministic(self, amount: int, split: list[tuple[str, int]]) -> None:
        shares = allocate(amount, split)
        assert sum(s for _, s in shares) == amount
        for (party, bp), (same_party, share) in zip(split, shares, strict=True):
            assert party == same_party
            assert abs(share - Fraction(amount * bp, 10000)) < 1
        assert dict(allocate(amount, list(reversed(split)))) == dict(shares)
