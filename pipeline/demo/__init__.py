"""Deterministic demo data: French retail customers spread over 8 source systems, with ground truth.

`generate_demo` writes one daily drop per source under raw_dir/<source>/<as_of>/ and the truth
(`source,source_record_id,person_id`) for every person record; the pipeline never reads the truth
except in the evaluation asset. Deliberately broken rows (see `writers.BROKEN`) exercise quarantine.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np

from pipeline.demo.people import make_people
from pipeline.demo.pools import Pools
from pipeline.demo.records import make_records
from pipeline.demo.writers import write_all

DEMO_DAY = date(2026, 11, 23)


def generate_demo(n_persons: int = 20000, seed: int = 42, raw_dir: Path = Path("data/raw"),
                  truth_path: Path = Path("data/truth.csv"), as_of: date = DEMO_DAY) -> dict:
    rng = np.random.default_rng(seed)
    pools = Pools.build(seed)
    people = make_people(n_persons, rng, pools, as_of)
    records = make_records(people, rng, pools, as_of, session_rng=np.random.default_rng([seed, 8]),
                           consent_rng=np.random.default_rng([seed, 9]))
    summary = write_all(records, people, Path(raw_dir), Path(truth_path), as_of)
    return {**summary, "persons": len(people)}
