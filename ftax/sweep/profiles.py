"""What a profile (`smoke`, `quick`, `full`) sets besides its grids: the stop rule and the rounds.

Profiles only choose grids (`ftax.study.catalogue`), stopping rules and rounds; the code path is the same for all
three. They live apart from the grids because the validation appendix, `ftax predict`, the sweep planner
and the benchmarks take a profile's stop rule without any study's grids.

- `smoke`: seconds, for tests (tiny models, two batch sizes, loose stopping).
- `quick`: the default `make book` on a 2-core CPU, about 10 minutes for the whole book.
- `full`: the paper's grids, meant for a GPU.
"""
from __future__ import annotations

from ftax.measure.timing import StopRule

PROFILES = ("smoke", "quick", "full")

RULES = {
    "smoke": StopRule(name="smoke", warmup_iters=2, warmup_time_s=0.0, warmup_max_s=0.2, min_iters=5, min_time_s=0.02,
                      max_time_s=0.1, target_rel_ci=0.1, pipelined_calls=3, pipelined_rounds=2, pipelined_max_s=0.1),
    "quick": StopRule(name="quick", warmup_iters=3, warmup_time_s=0.05, warmup_max_s=1.0, min_iters=7, min_time_s=0.1,
                      max_time_s=0.6, target_rel_ci=0.03, pipelined_calls=5, pipelined_rounds=3, pipelined_max_s=0.3),
    "full": StopRule(name="full"),
}
# Rounds per profile: a sweep visits every config this many times, interleaved (see ftax.sweep.rounds), so
# an estimate's interval comes from the spread between rounds, where a shared machine's drift shows.
# Quick has 5: t_{0.975,4}/sqrt(5) is half of t_{0.975,2}/sqrt(3) (book/methodology.md; benchmarks/calibration.py).
ROUNDS = {"smoke": 1, "quick": 5, "full": 5}


def rounds_by_profile() -> str:
    """'smoke 1, quick 5, full 5': the rounds of each profile, as the pages' prose names them."""
    return ", ".join(f"{profile} {ROUNDS[profile]}" for profile in PROFILES)
