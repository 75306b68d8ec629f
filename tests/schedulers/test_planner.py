"""The planner's model: hard rules hold on random instances, small instances match brute force, symmetry and re-planning."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.planner import month
from schedulers.planner import (
    Instance,
    PlanAnchor,
    PlanSlot,
    balanced,
    greedy,
    hour_scores,
    score,
    solve,
    unfilled_reason,
    upper_bound,
    violations,
)

T = datetime(2030, 3, 4, tzinfo=UTC)


def slot(i: int, start_hour: float, hours: float = 1, studio: int = 1, day: int | None = None) -> PlanSlot:
    starts = T + timedelta(hours=start_hour)
    day_ = day if day is not None else int(start_hour // 24)
    return PlanSlot(i, studio, starts, starts + timedelta(hours=hours), week=0, day=day_, hour=int(start_hour) % 24)


def brute_force_best(instance: Instance) -> int:
    """The best objective over every assignment that keeps the hard rules."""
    choices = [None, *(a.id for a in instance.anchors)]
    best = None
    for pick in itertools.product(choices, repeat=len(instance.slots)):
        assignment = {s.id: a for s, a in zip(instance.slots, pick, strict=True) if a is not None}
        if violations(instance, assignment):
            continue
        value = score(instance, assignment)
        best = value if best is None else max(best, value)
    assert best is not None  # the empty plan always keeps the rules
    return best


@st.composite
def instances(draw: st.DrawFn) -> Instance:
    n_slots = draw(st.integers(1, 6))
    slots = [
        slot(i + 1, draw(st.integers(0, 40)) / 2, draw(st.sampled_from([0.5, 1, 2])), studio=draw(st.integers(1, 3)))
        for i in range(n_slots)
    ]
    anchors = [
        PlanAnchor(100 + j, draw(st.integers(1, 3)), draw(st.integers(0, 3)), draw(st.sampled_from([30, 60, 120, 240])))
        for j in range(draw(st.integers(1, 4)))
    ]
    blocked = {
        (s.id, a.id): draw(st.sampled_from(["availability", "anchor", "notice"])) for s in slots for a in anchors if draw(st.booleans())
    }
    previous = {s.id: draw(st.sampled_from([a.id for a in anchors])) for s in slots if draw(st.booleans())}
    weights = {c: draw(st.integers(0, 5)) for c in {a.county_id for a in anchors}} if draw(st.booleans()) else {}
    day_used = {(a.id, s.day): draw(st.sampled_from([0, 30, 60])) for a in anchors for s in slots[:1]}
    county_hours = {(a.county_id, s.hour): draw(st.integers(0, 10)) for a in anchors for s in slots} if draw(st.booleans()) else {}
    return Instance(
        slots=slots,
        anchors=anchors,
        blocked=blocked,
        buffer_minutes=draw(st.sampled_from([0, 15, 30])),
        previous=previous,
        county_weights=weights,
        day_used=day_used,
        county_hours=county_hours,
    )


class TestHardRules:
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(instances())
    def test_every_plan_keeps_every_hard_rule(self, instance: Instance) -> None:
        solution = solve(instance, time_limit_seconds=5, workers=2)
        assert violations(instance, solution.assignment) == []
        assert set(solution.unfilled) == {s.id for s in instance.slots} - set(solution.assignment)

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(instances())
    def test_the_reported_objective_is_the_plans_score_and_within_the_bound(self, instance: Instance) -> None:
        solution = solve(instance, time_limit_seconds=5, workers=2)
        assert solution.objective == score(instance, solution.assignment)
        assert solution.objective <= solution.bound

    def test_the_checker_catches_an_overlap(self) -> None:
        instance = Instance([slot(1, 0, 1, studio=1), slot(2, 0.5, 1, studio=2)], [PlanAnchor(7, 1, 5, 600)])
        assert violations(instance, {1: 7, 2: 7}) != []


class TestOptimality:
    @settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(instances())
    def test_small_instances_match_brute_force(self, instance: Instance) -> None:
        solution = solve(instance, time_limit_seconds=10, workers=2)
        assert solution.status == "optimal"
        assert solution.objective == brute_force_best(instance)

    def test_fills_what_greedy_leaves_empty(self) -> None:
        # Greedy gives the morning slot to the first anchor, who alone could take the evening one.
        slots = [slot(1, 0, 1), slot(2, 10, 1)]
        anchors = [PlanAnchor(1, 1, 1, 240), PlanAnchor(2, 1, 1, 240)]
        instance = Instance(slots, anchors, blocked={(2, 2): "availability"})
        assert len(greedy(instance)) == 1
        solution = solve(instance, time_limit_seconds=5)
        assert solution.assignment == {1: 2, 2: 1}

    def test_broadcasts_are_spread_across_anchors(self) -> None:
        slots = [slot(i, 3 * i, 1) for i in range(1, 7)]
        anchors = [PlanAnchor(a, 1, 7, 600) for a in (1, 2, 3)]
        solution = solve(Instance(slots, anchors), time_limit_seconds=5)
        counts = sorted(list(solution.assignment.values()).count(a.id) for a in anchors)
        assert counts == [2, 2, 2]

    def test_county_air_time_follows_the_weights(self) -> None:
        slots = [slot(i, 3 * i, 1) for i in range(1, 9)]
        anchors = [PlanAnchor(1, 10, 7, 600), PlanAnchor(2, 10, 7, 600), PlanAnchor(3, 10, 7, 600), PlanAnchor(4, 20, 7, 600)]
        solution = solve(Instance(slots, anchors, county_weights={10: 3, 20: 1}), time_limit_seconds=5)
        county_one = sum(1 for a in solution.assignment.values() if a in (1, 2, 3))
        assert (len(solution.assignment), county_one) == (8, 6)

    def test_no_back_to_back_when_another_anchor_is_free(self) -> None:
        slots = [slot(1, 0, 1), slot(2, 1.5, 1)]  # 30 minutes apart: allowed, but back to back
        anchors = [PlanAnchor(1, 1, 7, 600), PlanAnchor(2, 1, 7, 600)]
        solution = solve(Instance(slots, anchors, buffer_minutes=15), time_limit_seconds=5)
        assert len(set(solution.assignment.values())) == 2

    def test_a_county_is_put_on_at_the_hour_its_streams_sold_best(self) -> None:
        # One broadcast a week: at 08:00 or at 14:00; the county's past streams sold best at 14:00.
        slots = [slot(1, 8), slot(2, 14)]
        instance = Instance(slots, [PlanAnchor(1, 5, 1, 600)], county_hours=hour_scores([(5, 8, 1000), (5, 14, 4000)]))
        assert solve(instance, time_limit_seconds=5).assignment == {2: 1}
        # Without the hours, either slot is as good as the other; with them, 14:00 earns the term.
        assert score(instance, {2: 1}) - score(instance, {1: 1}) == instance.weights.hours * (10 - 2)


class TestHourScores:
    def test_the_best_hour_scores_ten_and_others_in_proportion_to_their_mean(self) -> None:
        scores = hour_scores([(1, 10, 7000), (1, 10, 1000), (1, 20, 8000), (2, 9, 500), (3, 9, 0)])
        assert scores == {(1, 10): 5, (1, 20): 10, (2, 9): 10}

    def test_refunds_beyond_sales_count_as_nothing(self) -> None:
        assert hour_scores([(1, 10, -500), (1, 11, 100)]) == {(1, 10): 0, (1, 11): 10}


class TestMonth:
    """The bench's instance, shortened to two weeks: within 1% of the bound, inside the time limit."""

    def test_a_plan_within_one_percent_of_the_bound_inside_the_time_limit(self) -> None:
        instance = month(14, anchors=70, counties=12, studios=3)
        started = time.monotonic()
        solution = solve(instance, time_limit_seconds=6, workers=2)
        assert time.monotonic() - started < 7.5  # the limit covers building the model; the rest is loading OR-Tools
        assert violations(instance, solution.assignment) == []
        assert solution.bound <= upper_bound(instance)
        assert solution.bound - solution.objective <= solution.bound // 100
        assert solution.objective > score(instance, greedy(instance))

    def test_asked_for_one_percent_a_close_enough_start_is_returned_at_once(self) -> None:
        instance = month(14, anchors=70, counties=12, studios=3)
        started = time.monotonic()
        solution = solve(instance, time_limit_seconds=30, relative_gap=0.01)
        assert time.monotonic() - started < 10
        assert violations(instance, solution.assignment) == []
        assert solution.objective == score(instance, solution.assignment)
        assert solution.bound - solution.objective <= solution.bound // 100
        assert solution.status == ("optimal" if solution.objective == solution.bound else "feasible")

    def test_the_balanced_start_keeps_the_rules_and_the_plan_it_revises(self) -> None:
        instance = month(7, anchors=20, counties=4, studios=2)
        first = balanced(instance)
        assert violations(instance, first) == []
        kept = dict(list(sorted(first.items()))[::2])
        revised = balanced(instance, kept)
        assert violations(instance, revised) == []
        assert {s: revised[s] for s in kept} == kept


class TestReplanning:
    def test_after_a_cancellation_nothing_else_moves(self) -> None:
        slots = [slot(i, 3 * i, 1) for i in range(1, 7)]
        anchors = [PlanAnchor(a, 1, 7, 600) for a in (1, 2, 3)]
        first = solve(Instance(slots, anchors), time_limit_seconds=5)
        assert len(first.assignment) == 6
        # Anchor 1 drops out of its first broadcast; its slot must be refilled without moving anyone else.
        gone = min(s for s, a in first.assignment.items() if a == 1)
        blocked = {(gone, 1): "anchor"}
        previous = {s: a for s, a in first.assignment.items() if s != gone}
        second = solve(Instance(slots, anchors, blocked=blocked, previous=previous), time_limit_seconds=5)
        assert {s: a for s, a in second.assignment.items() if s != gone} == previous
        assert gone in second.assignment

    def test_identical_anchors_are_ordered_by_the_symmetry_break(self) -> None:
        slots = [slot(i, 3 * i, 1) for i in range(1, 6)]
        anchors = [PlanAnchor(a, 1, 7, 600) for a in (1, 2, 3)]
        solution = solve(Instance(slots, anchors), time_limit_seconds=5)
        counts = [list(solution.assignment.values()).count(a) for a in (1, 2, 3)]
        assert counts == sorted(counts, reverse=True)


class TestUnfilledReasons:
    def test_the_commonest_blocking_rule_is_named(self) -> None:
        instance = Instance(
            [slot(1, 0)], [PlanAnchor(1, 1, 7, 600), PlanAnchor(2, 1, 7, 600)], blocked={(1, 1): "availability", (1, 2): "availability"}
        )
        assert unfilled_reason(instance, 1) == "availability"
        assert solve(instance, time_limit_seconds=5).unfilled == {1: "availability"}

    def test_a_slot_nobody_can_take_for_lack_of_capacity(self) -> None:
        instance = Instance([slot(1, 0), slot(2, 0, studio=2)], [PlanAnchor(1, 1, 7, 600)])
        solution = solve(instance, time_limit_seconds=5)
        assert list(solution.unfilled.values()) == ["capacity"]
