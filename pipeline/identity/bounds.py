"""Confidence bounds of a share counted on few pairs (the learned corrections' cautious side)."""

from __future__ import annotations

import math

# Wilson's score interval at 95 %.
CONFIDENCE_Z = 1.96


def wilson_upper(successes: int, trials: int, z: float = CONFIDENCE_Z) -> float:
    """The upper bound of the share successes / trials: near the share on many trials, near 1 on a few."""
    if trials <= 0:
        return 1.0
    p = successes / trials
    centre = p + z * z / (2 * trials)
    margin = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return min(1.0, (centre + margin) / (1 + z * z / trials))
