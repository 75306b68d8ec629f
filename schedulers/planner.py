"""The campaign planner's model: which anchor hosts which open slot, solved with OR-Tools CP-SAT.

Pure: an `Instance` in, a `Solution` out, no database. `schedulers/plans.py` builds the instance
from the calendar and books the result. Hard rules are constraints (a pair a booking rule forbids
has no variable at all; one anchor per slot, so one county's products per slot; no anchor in two
slots that overlap with buffers; weekly count and daily air time within the anchor's limits,
counting the bookings already made). Everything else is the objective, in this order of weight:
slots covered; keeping the previous plan's assignments (minimal perturbation when re-planning);
each county's share of air time near its weight; each anchor's broadcasts spread evenly; no
back-to-back broadcasts for one anchor; the hours when each county's past streams sold best.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

# The search always gets this long, however long building the model took.
MIN_SEARCH_SECONDS = 0.5
SEARCH_SHARE = 0.85

# Why a pair or a slot is blocked, most telling first.
REASON_ORDER = ("notice", "availability", "uncertified", "studio_county", "anchor", "weekly_limit", "daily_limit")


@dataclass(frozen=True)
class Weights:
    """The objective's weights (integers: CP-SAT optimises an integer objective)."""

    cover: int = 1000
    keep: int = 200  # above what one move can gain in fairness (2 x fairness), so re-planning moves nobody for it
    share: int = 10
    fairness: int = 50
    back_to_back: int = 20
    back_to_back_minutes: int = 120  # a gap shorter than this between two broadcasts of one anchor is back to back
    hours: int = 5  # per point (0..10) of how well the county's past streams sold at the slot's hour; 10 x 5 < keep


@dataclass(frozen=True)
class PlanSlot:
    """An open slot to fill."""

    id: int
    studio_id: int
    starts_at: datetime
    ends_at: datetime
    week: Hashable  # the local week and day it counts towards for the limits
    day: Hashable
    hour: int = -1  # the local hour it starts at (for the county's best selling hours); -1: unknown

    @property
    def minutes(self) -> int:
        """Its length in minutes."""
        return int((self.ends_at - self.starts_at).total_seconds() // 60)


@dataclass(frozen=True)
class PlanAnchor:
    """An anchor that may host, with its limits."""

    id: int
    county_id: int
    weekly_max: int
    daily_max_minutes: int


@dataclass
class Instance:
    """Everything the model needs."""

    slots: list[PlanSlot]
    anchors: list[PlanAnchor]
    blocked: dict[tuple[int, int], str] = field(default_factory=dict)  # (slot, anchor) -> the rule that forbids it
    week_used: dict[tuple[int, Hashable], int] = field(default_factory=dict)  # broadcasts already booked
    day_used: dict[tuple[int, Hashable], int] = field(default_factory=dict)  # minutes already booked
    buffer_minutes: int = 0
    county_weights: dict[int, int] = field(default_factory=dict)  # absent: every county of the anchors weighs 1
    previous: dict[int, int] = field(default_factory=dict)  # slot -> anchor of the plan being revised
    weights: Weights = field(default_factory=Weights)
    # (county, local hour) -> 0..10: how well the county's past streams sold at that hour (10: its best hour).
    county_hours: dict[tuple[int, int], int] = field(default_factory=dict)

    def hour_score(self, county_id: int, slot: PlanSlot) -> int:
        """How well the county's past streams sold at the slot's hour, 0 to 10."""
        return self.county_hours.get((county_id, slot.hour), 0)

    def allowed(self, slot_id: int, anchor_id: int) -> bool:
        """True when no hard rule forbids the anchor hosting the slot."""
        return (slot_id, anchor_id) not in self.blocked

    def weight_of(self, county_id: int) -> int:
        """A county's weight."""
        return self.county_weights.get(county_id, 0 if self.county_weights else 1)

    def overlapping_pairs(self) -> list[tuple[PlanSlot, PlanSlot]]:
        """Pairs of slots that one anchor cannot both host (overlapping, buffers included)."""
        buffer = timedelta(minutes=self.buffer_minutes)
        ordered = sorted(self.slots, key=lambda s: (s.starts_at, s.id))
        pairs = []
        for i, a in enumerate(ordered):
            for b in ordered[i + 1 :]:
                if b.starts_at >= a.ends_at + buffer:
                    break
                pairs.append((a, b))
        return pairs

    def overlap_cliques(self) -> list[list[PlanSlot]]:
        """Groups of slots that pairwise overlap (buffers included), covering every overlapping pair.

        Slots stretched by the buffer are intervals, so the slots running at each start time form
        the maximal cliques: one at-most-one per group replaces a constraint per pair.
        """
        buffer = timedelta(minutes=self.buffer_minutes)
        cliques = []
        for start in sorted({s.starts_at for s in self.slots}):
            running = [s for s in self.slots if s.starts_at <= start < s.ends_at + buffer]
            if len(running) > 1:
                cliques.append(sorted(running, key=lambda s: s.id))
        return cliques

    def followers_of(self, slot: PlanSlot) -> list[PlanSlot]:
        """The slots starting too soon after `slot` for one anchor to rest, yet not overlapping it."""
        buffer, rest = timedelta(minutes=self.buffer_minutes), timedelta(minutes=self.weights.back_to_back_minutes)
        return [t for t in self.slots if slot.ends_at + buffer <= t.starts_at < slot.ends_at + rest]

    def back_to_back_pairs(self) -> list[tuple[PlanSlot, PlanSlot]]:
        """Pairs of slots one anchor may both host, but with too short a rest between them."""
        buffer, rest = timedelta(minutes=self.buffer_minutes), timedelta(minutes=self.weights.back_to_back_minutes)
        ordered = sorted(self.slots, key=lambda s: (s.starts_at, s.id))
        pairs = []
        for i, a in enumerate(ordered):
            for b in ordered[i + 1 :]:
                if b.starts_at >= a.ends_at + rest:
                    break
                if b.starts_at >= a.ends_at + buffer:
                    pairs.append((a, b))
        return pairs


@dataclass
class Solution:
    """The solver's answer: slot -> anchor, and how good it is."""

    status: str  # optimal | feasible | infeasible
    assignment: dict[int, int]
    objective: int
    bound: int
    unfilled: dict[int, str]
    wall_seconds: float = 0.0


def hour_scores(sales: Iterable[tuple[int, int, int]]) -> dict[tuple[int, int], int]:
    """(county, local hour) -> 0..10 from past sales `(county, hour, net_fen)`, one per stream: 10 at the county's best hour.

    An hour scores by its mean sales per stream, relative to the county's best hour; hours
    with no past stream score 0, as do counties that never sold anything.
    """
    totals: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for county_id, hour, net in sales:
        totals[(county_id, hour)][0] += max(0, net)
        totals[(county_id, hour)][1] += 1
    means = {key: total / count for key, (total, count) in totals.items()}
    best: dict[int, float] = defaultdict(float)
    for (county_id, _), mean in means.items():
        best[county_id] = max(best[county_id], mean)
    return {(c, h): round(10 * mean / best[c]) for (c, h), mean in means.items() if best[c] > 0}


def violations(instance: Instance, assignment: Mapping[int, int]) -> list[str]:
    """Every hard rule the assignment breaks (empty when it keeps them all)."""
    found = []
    slots = {s.id: s for s in instance.slots}
    anchors = {a.id: a for a in instance.anchors}
    for slot_id, anchor_id in assignment.items():
        if slot_id not in slots or anchor_id not in anchors:
            found.append(f"unknown slot {slot_id} or anchor {anchor_id}")
        elif not instance.allowed(slot_id, anchor_id):
            found.append(f"slot {slot_id}: anchor {anchor_id} is blocked ({instance.blocked[(slot_id, anchor_id)]})")
    for a, b in instance.overlapping_pairs():
        if a.id in assignment and assignment.get(a.id) == assignment.get(b.id):
            found.append(f"anchor {assignment[a.id]} in overlapping slots {a.id} and {b.id}")
    weeks: Counter[tuple[int, Hashable]] = Counter()
    days: Counter[tuple[int, Hashable]] = Counter()
    for slot_id, anchor_id in assignment.items():
        if slot_id in slots:
            weeks[(anchor_id, slots[slot_id].week)] += 1
            days[(anchor_id, slots[slot_id].day)] += slots[slot_id].minutes
    for (anchor_id, week), count in weeks.items():
        if anchor_id in anchors and count + instance.week_used.get((anchor_id, week), 0) > anchors[anchor_id].weekly_max:
            found.append(f"anchor {anchor_id} over its weekly limit in week {week}")
    for (anchor_id, day), minutes in days.items():
        if anchor_id in anchors and minutes + instance.day_used.get((anchor_id, day), 0) > anchors[anchor_id].daily_max_minutes:
            found.append(f"anchor {anchor_id} over its daily air time on {day}")
    return found


def score(instance: Instance, assignment: Mapping[int, int]) -> int:
    """The objective value of an assignment, computed the way the model computes it (for checks and baselines)."""
    w = instance.weights
    anchors = {a.id: a for a in instance.anchors}
    covered = len(assignment)
    kept = sum(1 for slot_id, anchor_id in assignment.items() if instance.previous.get(slot_id) == anchor_id)
    spread = _spread(instance, assignment)
    slots = {s.id: s for s in instance.slots}
    hours = sum(instance.hour_score(anchors[a].county_id, slots[s]) for s, a in assignment.items() if s in slots and a in anchors)
    b2b = sum(
        1 for s in instance.slots if s.id in assignment and any(assignment.get(t.id) == assignment[s.id] for t in instance.followers_of(s))
    )
    by_county = Counter(anchors[a].county_id for a in assignment.values())
    total_weight = _total_weight(instance)
    share = sum(abs(by_county.get(c, 0) * total_weight - instance.weight_of(c) * covered) for c in _counties(instance))
    return (
        total_weight * (w.cover * covered + w.keep * kept - w.fairness * spread - w.back_to_back * b2b + w.hours * hours) - w.share * share
    )


def _spread(instance: Instance, assignment: Mapping[int, int]) -> int:
    """Most broadcasts of one eligible anchor less the fewest."""
    counts = Counter(assignment.values())
    eligible = _eligible(instance)
    return (max(counts.get(a, 0) for a in eligible) - min(counts.get(a, 0) for a in eligible)) if eligible else 0


def _counties(instance: Instance) -> list[int]:
    return sorted({a.county_id for a in instance.anchors})


def _total_weight(instance: Instance) -> int:
    return max(1, sum(instance.weight_of(c) for c in _counties(instance)))


def _eligible(instance: Instance) -> list[int]:
    """Anchors that could host at least one slot: the ones fairness is measured over."""
    return [a.id for a in instance.anchors if any(instance.allowed(s.id, a.id) for s in instance.slots)]


def _symmetry_groups(instance: Instance) -> list[list[int]]:
    """Anchors no rule or objective term tells apart: swapping two of them maps a plan to an equally good one."""
    groups: dict[Hashable, list[int]] = defaultdict(list)
    previous = set(instance.previous.values())
    for a in instance.anchors:
        if a.id in previous:
            continue
        blocked = frozenset((s.id, instance.blocked[(s.id, a.id)]) for s in instance.slots if not instance.allowed(s.id, a.id))
        used = frozenset((k[1], v) for k, v in instance.week_used.items() if k[0] == a.id)
        minutes = frozenset((k[1], v) for k, v in instance.day_used.items() if k[0] == a.id)
        groups[(a.county_id, a.weekly_max, a.daily_max_minutes, blocked, used, minutes)].append(a.id)
    return [sorted(ids) for ids in groups.values() if len(ids) > 1]


def solve(instance: Instance, *, time_limit_seconds: float = 10.0, workers: int = 2, relative_gap: float = 0.0) -> Solution:
    """Build the CP-SAT model and solve it, the whole call within the time limit (building the model included).

    With `relative_gap` (0.01: within 1% of the bound) the search stops as soon as a plan is
    that close; the default searches to the limit or to a proof of optimality.
    """
    began = time.monotonic()
    # Imported here: OR-Tools takes a while to load, and only planning needs it (not every app start).
    from ortools.sat.python import cp_model

    start = starting_plan(instance)
    if relative_gap > 0:
        # CP-SAT checks its gap limit only once searching; a start already close enough to a bound
        # no plan can beat is the answer at once, without building the model.
        start_score, ceiling = score(instance, start), upper_bound(instance)
        if ceiling - start_score <= relative_gap * abs(ceiling):
            return Solution(
                status="optimal" if start_score >= ceiling else "feasible",
                assignment=dict(start),
                objective=start_score,
                bound=ceiling,
                unfilled={s.id: unfilled_reason(instance, s.id) for s in instance.slots if s.id not in start},
                wall_seconds=time.monotonic() - began,
            )
    model = _Model(instance, cp_model, start)
    solver = cp_model.CpSolver()
    # What is left after building, less a margin for reading the answer back (a loaded machine overshoots).
    left = (float(time_limit_seconds) - (time.monotonic() - began)) * SEARCH_SHARE
    solver.parameters.max_time_in_seconds = max(MIN_SEARCH_SECONDS, left)
    solver.parameters.relative_gap_limit = relative_gap
    solver.parameters.num_workers = max(1, workers)
    # The model is large but shallow: a long presolve eats the time limit before any search starts.
    # Its own symmetry search costs seconds on a month and finds what `_symmetry_groups` already breaks.
    solver.parameters.cp_model_probing_level = 0
    solver.parameters.max_presolve_iterations = 1
    solver.parameters.symmetry_level = 0
    status = solver.solve(model.model)
    if status == cp_model.INFEASIBLE:
        return Solution("infeasible", {}, 0, 0, {s.id: "infeasible" for s in instance.slots}, solver.wall_time)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        # No solution within the time limit: fall back to the starting plan, which keeps every hard rule.
        fallback = model.start if not violations(instance, model.start) else greedy(instance)
        return Solution(
            status="feasible",
            assignment=fallback,
            objective=score(instance, fallback),
            bound=upper_bound(instance),
            unfilled={s.id: unfilled_reason(instance, s.id) for s in instance.slots if s.id not in fallback},
            wall_seconds=solver.wall_time,
        )
    assignment = {slot_id: anchor_id for (slot_id, anchor_id), var in model.x.items() if solver.boolean_value(var)}
    objective, bound = round(solver.objective_value), _finite(solver.best_objective_bound)
    # Stopped by `relative_gap`, CP-SAT says OPTIMAL of a plan it has not proven best: only a closed gap is a proof.
    return Solution(
        status="optimal" if status == cp_model.OPTIMAL and objective >= bound else "feasible",
        assignment=assignment,
        objective=objective,
        bound=bound,
        unfilled={s.id: unfilled_reason(instance, s.id) for s in instance.slots if s.id not in assignment},
        wall_seconds=solver.wall_time,
    )


def starting_plan(instance: Instance) -> dict[int, int]:
    """Where the search starts: the previous plan with its gaps filled, else the better heuristic plan."""
    if instance.previous:
        return balanced(instance, instance.previous)
    return max(balanced(instance), greedy(instance), key=lambda p: score(instance, p))


class _Model:
    """The CP-SAT model of an instance, with a complete hint taken from the starting plan.

    Sizes are kept down on purpose: a variable exists only for a (slot, anchor) pair no rule
    forbids; every sum over the whole plan goes through small integer variables (per anchor,
    per county, covered), so no constraint names all the pair variables (a first version put
    every pair in each county's share constraints, a million terms that presolve could not get
    through in ten seconds); and the hint covers every variable, so the search starts from a
    complete plan instead of having to repair one.
    """

    def __init__(self, instance: Instance, cp_model: Any, start: dict[int, int]) -> None:
        self.instance = instance
        self.model = model = cp_model.CpModel()
        self._hints: list[tuple[Any, int]] = []
        self.start = start
        w = instance.weights
        total = cp_model.LinearExpr.sum
        slots = {s.id: s for s in instance.slots}
        anchors = {a.id: a for a in instance.anchors}
        n = len(instance.slots)

        self.x: dict[tuple[int, int], Any] = {}
        by_slot: dict[int, list[Any]] = defaultdict(list)
        by_anchor: dict[int, list[tuple[PlanSlot, Any]]] = defaultdict(list)
        for s in instance.slots:
            for a in instance.anchors:
                if instance.allowed(s.id, a.id):
                    var = self.x[(s.id, a.id)] = self._bool(f"x_{s.id}_{a.id}", start.get(s.id) == a.id)
                    by_slot[s.id].append(var)
                    by_anchor[a.id].append((s, var))
        for vars_ in by_slot.values():
            model.add_at_most_one(vars_)
        for clique in instance.overlap_cliques():
            for anchor in instance.anchors:
                vars_ = [self.x[(s.id, anchor.id)] for s in clique if (s.id, anchor.id) in self.x]
                if len(vars_) > 1:
                    model.add_at_most_one(vars_)
        self._limits(by_anchor, anchors, cp_model)

        hosted = Counter(start.values())
        counts = {a.id: self._int(0, n, f"n_{a.id}", hosted.get(a.id, 0)) for a in instance.anchors}
        for anchor_id, var in counts.items():
            model.add(var == total([v for _, v in by_anchor.get(anchor_id, [])]))
        # Symmetry: within a group of interchangeable anchors, the earlier one hosts at least as often.
        for group in _symmetry_groups(instance):
            for earlier, next_one in pairwise(group):
                model.add(counts[earlier] >= counts[next_one])
        covered = self._int(0, n, "covered", len(start))
        model.add(covered == total(list(counts.values())))

        spread = self._int(0, n, "spread", _spread(instance, start))
        eligible = _eligible(instance)
        if eligible:
            most = self._int(0, n, "most", max(hosted.get(a, 0) for a in eligible))
            least = self._int(0, n, "least", min(hosted.get(a, 0) for a in eligible))
            model.add_max_equality(most, [counts[a] for a in eligible])
            model.add_min_equality(least, [counts[a] for a in eligible])
            model.add(spread == most - least)
        else:
            model.add(spread == 0)

        # A broadcast followed too soon by another of the same anchor costs once, however many follow.
        b2b_terms = []
        for s in instance.slots:
            followers = instance.followers_of(s)
            for anchor in instance.anchors:
                after = [t for t in followers if (t.id, anchor.id) in self.x]
                if (s.id, anchor.id) in self.x and after:
                    is_tired = start.get(s.id) == anchor.id and any(start.get(t.id) == anchor.id for t in after)
                    tired = self._bool(f"b2b_{s.id}_{anchor.id}", is_tired)
                    # Taking the slot and any follower makes the anchor tired (followers mostly overlap one another).
                    model.add(total([self.x[(t.id, anchor.id)] for t in after]) <= len(after) * tired).only_enforce_if(
                        self.x[(s.id, anchor.id)]
                    )
                    b2b_terms.append(tired)

        total_weight = _total_weight(instance)
        by_county_start = Counter(anchors[a].county_id for a in start.values())
        share_terms = []
        for county_id in _counties(instance):
            members = [counts[a.id] for a in instance.anchors if a.county_id == county_id]
            gap_start = total_weight * by_county_start.get(county_id, 0) - instance.weight_of(county_id) * len(start)
            deviation = self._int(0, n * total_weight * 2 + 1, f"dev_{county_id}", abs(gap_start))
            gap = total_weight * total(members) - instance.weight_of(county_id) * covered
            model.add(deviation >= gap)
            model.add(deviation >= -gap)
            share_terms.append(deviation)
        kept = [self.x[(slot_id, anchor_id)] for slot_id, anchor_id in instance.previous.items() if (slot_id, anchor_id) in self.x]
        good_hours = [(var, instance.hour_score(anchors[a].county_id, slots[s])) for (s, a), var in self.x.items()]
        good_hours = [(var, value) for var, value in good_hours if value]

        model.maximize(
            total_weight
            * (
                w.cover * covered
                + w.keep * total(kept)
                - w.fairness * spread
                - w.back_to_back * total(b2b_terms)
                + w.hours * cp_model.LinearExpr.weighted_sum([v for v, _ in good_hours], [c for _, c in good_hours])
            )
            - w.share * total(share_terms)
        )
        for var, value in self._hints:
            model.add_hint(var, value)

    def _bool(self, name: str, value: bool) -> Any:
        var = self.model.new_bool_var(name)
        self._hints.append((var, int(value)))
        return var

    def _int(self, lower: int, upper: int, name: str, value: int) -> Any:
        var = self.model.new_int_var(lower, upper, name)
        self._hints.append((var, value))
        return var

    def _limits(self, by_anchor: dict[int, list[tuple[PlanSlot, Any]]], anchors: dict[int, PlanAnchor], cp_model: Any) -> None:
        """Each anchor's weekly count and daily air time within its limits, counting what is already booked."""
        instance = self.instance
        for anchor_id, items in by_anchor.items():
            weeks: dict[Hashable, list[Any]] = defaultdict(list)
            days: dict[Hashable, list[tuple[int, Any]]] = defaultdict(list)
            for slot, var in items:
                weeks[slot.week].append(var)
                days[slot.day].append((slot.minutes, var))
            for week, vars_ in weeks.items():
                room = max(0, anchors[anchor_id].weekly_max - instance.week_used.get((anchor_id, week), 0))
                if room < len(vars_):
                    self.model.add(cp_model.LinearExpr.sum(vars_) <= room)
            for day, weighted in days.items():
                room = max(0, anchors[anchor_id].daily_max_minutes - instance.day_used.get((anchor_id, day), 0))
                if room < sum(m for m, _ in weighted):
                    self.model.add(cp_model.LinearExpr.weighted_sum([v for _, v in weighted], [m for m, _ in weighted]) <= room)


def upper_bound(instance: Instance) -> int:
    """A bound no plan can beat: every slot covered and kept at its best hour, no penalty (reported when the search found nothing)."""
    w = instance.weights
    best_hours = sum(max((instance.hour_score(a.county_id, s) for a in instance.anchors), default=0) for s in instance.slots)
    return _total_weight(instance) * (w.cover * len(instance.slots) + w.keep * len(instance.previous) + w.hours * best_hours)


def _finite(value: float) -> int:
    """A solver bound as an integer (an unbounded one as the largest 64-bit value)."""
    return round(value) if math.isfinite(value) else 2**63 - 1


def unfilled_reason(instance: Instance, slot_id: int) -> str:
    """The rule that left a slot empty: the commonest reason its anchors are blocked, else `capacity`."""
    if not instance.anchors:
        return "no_anchor"
    reasons = [instance.blocked.get((slot_id, a.id)) for a in instance.anchors]
    if any(r is None for r in reasons):
        # Someone could host it, but every such anchor is at a limit or needed in an overlapping slot.
        return "capacity"
    tally = Counter(r for r in reasons if r is not None)
    return max(tally, key=lambda r: (tally[r], -REASON_ORDER.index(r) if r in REASON_ORDER else -len(REASON_ORDER)))


def greedy(instance: Instance) -> dict[int, int]:
    """The baseline: each slot in time order gets the first free anchor that keeps every hard rule."""
    return _fill(instance, lambda slot, candidates, state: candidates[0])


def balanced(instance: Instance, base: Mapping[int, int] | None = None) -> dict[int, int]:
    """A better start: each slot in time order goes to the county furthest behind its share, then its least used anchor.

    It avoids back-to-back broadcasts and prefers the county's best hours; CP-SAT starts from
    whichever of this and the greedy plan scores higher. With `base` (the plan being revised)
    its assignments stay where they still keep the rules and only the rest is filled.
    """
    total_weight = _total_weight(instance)
    # Slot ids too close after and before each slot for one anchor to rest, computed once.
    near: dict[int, set[int]] = defaultdict(set)
    for a, b in instance.back_to_back_pairs():
        near[a.id].add(b.id)
        near[b.id].add(a.id)

    def pick(slot: PlanSlot, candidates: list[PlanAnchor], state: _FillState) -> PlanAnchor:
        def key(a: PlanAnchor) -> tuple[int, int, int, int, int]:
            tired = not near[slot.id].isdisjoint(state.hosts_of[a.id])
            behind = state.by_county[a.county_id] * total_weight - instance.weight_of(a.county_id) * (state.covered + 1)
            return (int(tired), behind, state.by_anchor[a.id], -instance.hour_score(a.county_id, slot), a.id)

        return min(candidates, key=key)

    return _fill(instance, pick, base)


@dataclass
class _FillState:
    """What a slot-by-slot fill has booked so far."""

    taken: dict[int, list[PlanSlot]] = field(default_factory=lambda: defaultdict(list))
    hosts_of: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    by_anchor: Counter[int] = field(default_factory=Counter)
    by_county: Counter[int] = field(default_factory=Counter)
    covered: int = 0


def _fill(
    instance: Instance, pick: Callable[[PlanSlot, list[PlanAnchor], _FillState], PlanAnchor], base: Mapping[int, int] | None = None
) -> dict[int, int]:
    """Each slot in time order gets the anchor `pick` chooses among those that keep every hard rule.

    The assignments of `base` that still keep the rules are placed first and never moved.
    """
    buffer = timedelta(minutes=instance.buffer_minutes)
    anchors = {a.id: a for a in instance.anchors}
    state = _FillState()
    weeks: Counter[tuple[int, Hashable]] = Counter(instance.week_used)
    days: Counter[tuple[int, Hashable]] = Counter(instance.day_used)
    assignment: dict[int, int] = {}

    def fits(slot: PlanSlot, a: int) -> bool:
        if not instance.allowed(slot.id, a):
            return False
        if weeks[(a, slot.week)] + 1 > anchors[a].weekly_max or days[(a, slot.day)] + slot.minutes > anchors[a].daily_max_minutes:
            return False
        return not any(o.starts_at < slot.ends_at + buffer and slot.starts_at < o.ends_at + buffer for o in state.taken[a])

    def place(slot: PlanSlot, chosen: PlanAnchor) -> None:
        a = chosen.id
        assignment[slot.id] = a
        state.taken[a].append(slot)
        state.hosts_of[a].add(slot.id)
        state.by_anchor[a] += 1
        state.by_county[chosen.county_id] += 1
        state.covered += 1
        weeks[(a, slot.week)] += 1
        days[(a, slot.day)] += slot.minutes

    ordered = sorted(instance.slots, key=lambda s: (s.starts_at, s.id))
    for slot in ordered:
        kept = (base or {}).get(slot.id)
        if kept is not None and kept in anchors and fits(slot, kept):
            place(slot, anchors[kept])
    for slot in ordered:
        if slot.id in assignment:
            continue
        candidates = [anchor for anchor in instance.anchors if fits(slot, anchor.id)]
        if candidates:
            place(slot, pick(slot, candidates, state))
    return assignment
