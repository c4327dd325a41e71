"""The odds' fast allocation agrees with the engine without siblings and transfers."""

from __future__ import annotations

import random

from integrations.daycare import allocation as alloc
from integrations.daycare.odds import serial


def test_serial_dictatorship_equals_the_engine_without_groups_or_transfers() -> None:
    rng = random.Random(7)
    for trial in range(40):
        facilities = [f"F{i}" for i in range(rng.randint(1, 5))]
        places = {(f, 1): rng.randint(0, 3) for f in facilities}
        count = rng.randint(1, 15)
        # Distinct priorities: ties are drawn by each simulation's own lottery, not the round's.
        points = rng.sample(range(100), count)
        applicants = [
            alloc.Applicant(
                id=f"a{n}",
                class_age=1,
                wishes=tuple(rng.sample(facilities, rng.randint(1, len(facilities)))),
                priority=(float(points[n]) / 4, float(rng.randint(0, 1))),
            )
            for n in range(count)
        ]
        seed = f"seed{trial}"
        engine = alloc.allocate(alloc.RoundInput(places=places, applicants=applicants, seed=seed))
        assert serial(places, applicants, seed) == engine.assignment
