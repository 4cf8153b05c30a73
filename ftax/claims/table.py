"""The paper's claims as verdicts on the records: the claims, their thresholds, the table and its sentences.

Fernandez et al., "The Framework Tax: Disparities Between Inference Efficiency in NLP Research
and Deployment" (EMNLP 2023) conclude (a)-(g) of `CLAIMS` from 2022 GPUs and CPUs; (h) is ours, the same
question asked of an LLM's decode step (page 09). Each claim is a function of the visits frame
(`ftax.store.dataframe.load(path)`) that returns one `ClaimResult` per machine and device (per pair of them for (f)
and (g)), per runtime where the runtimes disagree: the statistic that decides, its interval, the threshold it is
held to, one sentence saying what was compared, and every test; each is supported, contradicted, inconclusive or
not testable here by the one rule of `ftax.claims.verdicts`, and (c), (d), (e), which the paper makes about a
model "while framework-bound", are `premise not met` on a machine where claim (a)'s rule finds no flat curve. The
rules are `ftax.claims.per_machine` ((a)-(e), (h)) and `ftax.claims.across_machines` ((f), (g)); this module is
what the pages read: every claim's statement, title and threshold side by side, as the claims page shows them,
and `evaluate_claims`, the table of every verdict (each claim on the visits it reads). Read layer: pure
functions; no torch, never measures.
"""
from __future__ import annotations

from dataclasses import fields, replace
from typing import Callable, Mapping

import pandas as pd

from ftax.read.analysis import FLAT, FLAT_MAX_RATIO, flatness
from ftax.claims.verdicts import NOT_TESTABLE, PREMISE_NOT_MET, ClaimResult, value_text
from ftax.claims.across_machines import (LATER_INFLECTION_MIN_RATIO, TAX_GROWTH_MIN_SHARE_DIFF,
                                         faster_hardware_later_inflection, tax_grows_on_faster_hardware)
from ftax.claims.per_machine import (FREE_MAX_FACTOR, NO_HELP_MIN_RATIO, NOT_FASTER_MIN_RATIO,
                                     SMALL_BATCH_GAIN_MIN_RATIO, decode_framework_bound, efficient_models_not_faster,
                                     flat_at_small_batch, half_precision_no_help, static_gain_at_small_batch,
                                     width_free_depth_not)

CLAIMS: dict[str, str] = {
    "a": "At small batch, eager inference is framework-bound: latency stays nearly flat as the batch grows, until "
         "an inflection past which it grows with the work.",
    "b": "Static and compiled runtimes (TorchScript, torch.compile, CUDA graphs, ONNX Runtime) cut latency most at "
         "small batch, and their gains shrink as the batch grows and the model becomes compute-bound.",
    "c": "While framework-bound, a wider model costs almost no extra latency, while a deeper one does (each layer "
         "adds operators to launch).",
    "d": "MobileBERT and SqueezeBERT, with fewer FLOPs but more or costlier operators, are not faster than BERT-base "
         "at batch 1, while DistilBERT, with fewer layers, is.",
    "e": "Half precision (FP16/BF16) does not reduce latency while a model is framework-bound; it helps only past "
         "the inflection.",
    "f": "Faster hardware stays framework-bound up to larger batches: the inflection batch moves up.",
    "g": "The framework tax grows as hardware gets faster: overhead is a larger share of latency on the faster device.",
    "h": "(Not the paper's: our extension to LLM decoding.) One eager decode step per token over a KV cache is "
         "framework-bound at batch 1: its latency stays nearly flat from batch 1 to 4, by claim (a)'s rule.",
}
CLAIM_TITLES: dict[str, str] = {
    "a": "eager latency is flat at small batch", "b": "static runtimes gain most at small batch",
    "c": "width is nearly free, depth is not", "d": "MobileBERT and SqueezeBERT are not faster than BERT-base",
    "e": "FP16/BF16 does not help at batch 1", "f": "faster hardware moves the inflection batch up",
    "g": "the tax grows on faster hardware",
    "h": "per-token decode is framework-bound at batch 1",
}
# claim -> (the statistic, the threshold, its reason in one line): what the claims page states.
THRESHOLDS: dict[str, tuple[str, float, str]] = {
    "a": ("T(4)/T(1) <=", FLAT_MAX_RATIO, "within 25%: \"flat\" as the paper's figures show it (4x the work, a quarter "
          "more time); the same rule decides every page's framework-bound regime (`ftax.read.analysis`)"),
    "b": ("speedup at the smallest batch / at the largest >", SMALL_BATCH_GAIN_MIN_RATIO,
          "any excess is \"most at small batch\""),
    "c": (f"latency factor per doubling of width <= {FREE_MAX_FACTOR:g} and of depth >", FREE_MAX_FACTOR,
          "within 25% is \"nearly free\", as flat in (a)"),
    "d": ("latency / BERT-base >=", NOT_FASTER_MIN_RATIO, "within 10% of BERT-base (or slower) is no practical gain"),
    "e": ("fp16 or bf16 latency / fp32 >=", NO_HELP_MIN_RATIO, "a gain under 10% does not help"),
    "f": ("inflection batch on the faster device / on the slower >", LATER_INFLECTION_MIN_RATIO,
          "any later inflection moves it up"),
    "g": ("overhead share on the faster device - on the slower (share points) >", TAX_GROWTH_MIN_SHARE_DIFF,
          "any increase is growth"),
    "h": ("decode step T(4)/T(1) <=", FLAT_MAX_RATIO,
          "claim (a)'s rule, applied to one token's step over the KV cache"),
}

# --- the table and its sentences ---------------------------------------------------------------------

COLUMNS = ("claim", "machine_id", "verdict", "statistic", "low", "high", "threshold", "why", "records", "device",
           "machine_label", "runtime", "tests", "deciding", "premise")
CLAIM_FUNCTIONS: dict[str, Callable[[pd.DataFrame], list[ClaimResult]]] = {
    "a": flat_at_small_batch, "b": static_gain_at_small_batch, "c": width_free_depth_not,
    "d": efficient_models_not_faster, "e": half_precision_no_help, "f": faster_hardware_later_inflection,
    "g": tax_grows_on_faster_hardware, "h": decode_framework_bound,
}
# the claims the paper makes about a model "while framework-bound": judged only where claim (a)'s rule finds that regime
PREMISED = ("c", "d", "e")
PREMISE = "the paper defines framework-bound as latency nearly flat in batch"


def evaluate_claims(inputs: Mapping[str, pd.DataFrame | None], premise: pd.DataFrame | None) -> pd.DataFrame:
    """One row per claim of `inputs` (claim -> the visits it reads) and machine (device; pair of them for f, g; and
    per runtime where runtimes disagree) with COLUMNS. `premise` holds the visits claim (a) reads: on a machine
    where (a)'s rule finds no flat curve among them, the claims of PREMISED are `premise not met` (`premise_checked`).
    Never raises on missing data: a claim without the records it needs is one "not testable here" row saying which
    records it lacks. A frame that is not the visits (the newest visit per config, config rows) raises ValueError
    instead: its verdicts would lack the rounds that give them intervals."""
    results = [r for claim, frame in inputs.items() for r in CLAIM_FUNCTIONS[claim](frame)]
    if any(c in inputs for c in PREMISED):
        results = premise_checked(results, flat_at_small_batch(premise))
    rows = [{f.name: getattr(r, f.name) for f in fields(r)} for r in results]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def premise_checked(results: list[ClaimResult], flat: list[ClaimResult]) -> list[ClaimResult]:
    """`results` with each testable row of a PREMISED claim made `premise not met` on a machine where claim (a)'s
    rows (`flat`) hold tests and none is flat by `ftax.read.analysis.flatness`; its tests, statistic and `why` stay
    (what the tests alone would say), `premise` gives the reason. A machine (a) cannot test is judged as the others."""
    reasons = {(r.machine_id, r.device): _no_regime(r) for r in flat if r.tests}
    out = []
    for r in results:
        reason = reasons.get((r.machine_id, r.device)) if r.claim in PREMISED and r.verdict != NOT_TESTABLE else None
        out.append(replace(r, verdict=PREMISE_NOT_MET, premise=reason) if reason else r)
    return out


def _no_regime(flat: ClaimResult) -> str:
    """Why claim (a)'s rule finds no framework-bound regime on `flat`'s machine, "" when it finds one."""
    if any(flatness(t.low, t.high) == FLAT for t in flat.tests):
        return ""
    flattest = min(flat.tests, key=lambda t: t.statistic)
    where = flat.machine_label or flat.machine_id
    return (f"claim (a)'s rule finds no framework-bound regime on {where}: none of its {len(flat.tests)} eager batch "
            f"curves has T(4)/T(1) <= {FLAT_MAX_RATIO:g} with its interval (the flattest, {flattest.name}: "
            f"{value_text(flattest.statistic, flattest.low, flattest.high)}); {PREMISE}")
