"""Page 08's outputs glued in one call: what its notebook places, computed once in the page's hidden cell.

Apart from `ftax.pages.tax_model` (the figures, tables and findings) so that each stays one job under the line
limit; this module only names the glue keys and feeds each function the shared selections (the configs, the
host-cost windows, the estimates) once.
"""
from __future__ import annotations

from ftax.pages import PageView, glue_figure, glue_markdown
from ftax.pages import tax_model as page
from ftax.pages.tax_model_fresh import fresh_runs_markdown


def glue_page(data, v: PageView) -> None:
    """Glue page 08's validation figure and scores, the host-cost windows (summary and folded table), the sweeps, the
    host estimates, the inflection (finding and folded table), the assumptions and the fresh runs. `data` is what
    `ftax.study.studies.open_study` returned for the tax-model study, `v` its view."""
    configs = page.every_config(data, v.frame["machine_id"].iloc[0] if not v.frame.empty else None)
    glue_figure("tax-validation", page.validation_figure(v, configs), page.scores_markdown(v, configs))
    windows = page.host_windows(v, configs)
    glue_markdown("tax-window", page.host_window_summary(v, windows))
    glue_markdown("tax-window-table", page.host_window_table(windows))
    estimates = page.host_estimates(v, configs)
    glue_markdown("tax-sweeps", page.sweeps_markdown(windows))
    glue_markdown("tax-host", page.host_table(estimates) + "\n\n" + page.host_finding(v, estimates))
    inflection_table, inflection_finding = page.inflections(v, configs)
    glue_markdown("tax-inflection", inflection_finding)
    glue_markdown("tax-inflection-table", inflection_table)
    glue_markdown("tax-assumes", page.assumptions_markdown(configs))
    glue_markdown("tax-fresh", fresh_runs_markdown(v))
