"""The campaign planner on a generated month: CP-SAT against a greedy baseline, and re-planning after a cancellation.

Run with `python -m bench.planner [--quick] [--time-limit 10]`; prints a table and writes
`bench/results/planner.json`. The instance: 70 anchors in 12 counties, 3 studios, 6 slots a
day per studio for 30 days (about 550 slots), county weights from 1 to 12 (think households),
availability windows on a third of the anchors, default limits (7 broadcasts a week, 240
minutes a day). The greedy baseline gives each slot, in time order, the first free anchor.
CP-SAT runs twice: stopping at the first plan within 1% of its bound, and searching the whole
time limit. For each plan: slots covered, objective and bound (the gap, when not proven optimal), the
spread of broadcasts per anchor (max - min) and each county's share against its weight.
Re-planning cancels one booked slot and plans again from the first plan: the slots that
changed besides the freed one should be none.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from schedulers.planner import Instance, PlanAnchor, PlanSlot, greedy, score, solve, violations

RESULTS = Path(__file__).parent / "results"
MONDAY = datetime(2030, 3, 4, 0, 0, tzinfo=UTC)  # 08:00 in Asia/Shanghai
SLOT_HOURS = (0, 2, 4, 6, 8, 10)  # local 08:00 to 18:00, one hour each


def month(days: int, anchors: int, counties: int, studios: int, seed: int = 7) -> Instance:
    """The generated instance."""
    rng = random.Random(seed)
    slots = []
    for d in range(days):
        for h in SLOT_HOURS:
            for studio in range(1, studios + 1):
                start = MONDAY + timedelta(days=d, hours=h, minutes=30 * (studio - 1))
                slots.append(PlanSlot(len(slots) + 1, studio, start, start + timedelta(hours=1), week=d // 7, day=d))
    people = [PlanAnchor(100 + i, 1 + i % counties, 7, 240) for i in range(anchors)]
    blocked: dict[tuple[int, int], str] = {}
    for a in people[: anchors // 3]:
        free_days = set(rng.sample(range(7), 4))
        for s in slots:
            if s.day % 7 not in free_days:
                blocked[(s.id, a.id)] = "availability"
    weights = {c: c for c in range(1, counties + 1)}
    return Instance(slots=slots, anchors=people, blocked=blocked, buffer_minutes=15, county_weights=weights)


def describe(instance: Instance, assignment: dict[int, int]) -> dict[str, Any]:
    """Coverage, spread per anchor, and county shares against their targets."""
    per_anchor = Counter(assignment.values())
    eligible = [a.id for a in instance.anchors if any(instance.allowed(s.id, a.id) for s in instance.slots)]
    counts = [per_anchor.get(a, 0) for a in eligible]
    county_of = {a.id: a.county_id for a in instance.anchors}
    per_county = Counter(county_of[a] for a in assignment.values())
    total_weight = sum(instance.county_weights.values())
    shares = {
        c: {"slots": per_county.get(c, 0), "target": round(len(assignment) * w / total_weight, 1)}
        for c, w in sorted(instance.county_weights.items())
    }
    worst = max((abs(v["slots"] - v["target"]) for v in shares.values()), default=0)
    return {
        "covered": len(assignment),
        "slots": len(instance.slots),
        "anchor_min": min(counts, default=0),
        "anchor_max": max(counts, default=0),
        "county_worst_gap": worst,
        "counties": shares,
        "violations": len(violations(instance, assignment)),
        "score": score(instance, assignment),
    }


def run(days: int, time_limit: float) -> dict[str, Any]:
    """Greedy, CP-SAT, then re-planning after one cancellation."""
    instance = month(days, anchors=70, counties=12, studios=3)
    started = time.perf_counter()
    baseline = greedy(instance)
    greedy_seconds = time.perf_counter() - started
    started = time.perf_counter()
    first = solve(instance, time_limit_seconds=time_limit, workers=2, relative_gap=0.01)
    first_seconds = time.perf_counter() - started
    started = time.perf_counter()
    plan = solve(instance, time_limit_seconds=time_limit, workers=2)
    plan_seconds = time.perf_counter() - started
    gap = (plan.bound - plan.objective) / abs(plan.bound) if plan.bound else 0.0

    cancelled_slot, cancelled_anchor = sorted(plan.assignment.items())[len(plan.assignment) // 2]
    replan_instance = Instance(
        slots=instance.slots,
        anchors=instance.anchors,
        blocked={**instance.blocked, (cancelled_slot, cancelled_anchor): "anchor"},
        buffer_minutes=instance.buffer_minutes,
        county_weights=instance.county_weights,
        previous={s: a for s, a in plan.assignment.items() if s != cancelled_slot},
    )
    started = time.perf_counter()
    replanned = solve(replan_instance, time_limit_seconds=time_limit, workers=2)
    replan_seconds = time.perf_counter() - started
    moved = sorted(s for s, a in plan.assignment.items() if s != cancelled_slot and replanned.assignment.get(s) != a)
    return {
        "greedy": {**describe(instance, baseline), "seconds": round(greedy_seconds, 3)},
        "cp_sat": {
            **describe(instance, plan.assignment),
            "status": plan.status,
            "objective": plan.objective,
            "bound": plan.bound,
            "gap": round(gap, 5),
            "seconds": round(plan_seconds, 2),
        },
        "within_1pct": {
            **describe(instance, first.assignment),
            "status": first.status,
            "objective": first.objective,
            "bound": first.bound,
            "gap": round((first.bound - first.objective) / abs(first.bound) if first.bound else 0.0, 5),
            "seconds": round(first_seconds, 2),
        },
        "replan": {
            "status": replanned.status,
            "seconds": round(replan_seconds, 2),
            "freed_slot_refilled": cancelled_slot in replanned.assignment,
            "other_slots_moved": moved,
        },
    }


def main() -> None:
    """Run and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a week instead of a month")
    parser.add_argument("--time-limit", type=float, default=10.0)
    args = parser.parse_args()
    result = run(7 if args.quick else 30, args.time_limit)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "planner.json").write_text(json.dumps(result, indent=2))
    for name in ("greedy", "within_1pct", "cp_sat"):
        r = result[name]
        print(
            f"{name:7} covered {r['covered']}/{r['slots']}  per anchor {r['anchor_min']}..{r['anchor_max']}  "
            f"worst county gap {r['county_worst_gap']:.1f}  score {r['score']}  {r['seconds']}s"
        )
    for name in ("within_1pct", "cp_sat"):
        cp = result[name]
        print(f"{name:7} {cp['status']}, objective {cp['objective']} bound {cp['bound']} gap {cp['gap']:.2%}")
    rp = result["replan"]
    print(
        f"replan  {rp['status']} in {rp['seconds']}s, freed slot refilled: {rp['freed_slot_refilled']}, "
        f"others moved: {rp['other_slots_moved']}"
    )


if __name__ == "__main__":
    main()
