"""The explorer's widget: ipywidgets controls over the static view, for a notebook with a kernel.

The widget only reads its controls into a `ftax.pages.explorer_selection.Selection`, resolves it, writes the
options back and shows `ftax.pages.explorer_view.figure_for`'s figure as a PNG: every choice and every drawing
lives in those two read modules, so each behaviour can be tested without a browser, and this module holds
only what needs ipywidgets and a display.
"""
from __future__ import annotations

import base64
import io
from typing import Callable

import pandas as pd
from matplotlib.figure import Figure

from ftax.pages.explorer_selection import METRICS, X_AXES, Selection, choices, resolve
from ftax.pages.explorer_view import figure_for
from ftax.figures.interactive import variant_label


def png_output(fig: Figure, dpi: int = 100) -> dict:
    """`fig` as a Jupyter display_data output (PNG), for an Output widget's `outputs`."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": base64.b64encode(buffer.getvalue()).decode(), "text/plain": repr(fig)}}


class Explorer:
    """ipywidgets controls over `figure_for`: each change resolves a `Selection`, refreshes the options
    of the dependent controls, and redraws. `selection` and `figure` hold what is shown; `show` turns
    the figure into the output widget's content (a PNG by default, about half a second per change)."""

    def __init__(self, frame: pd.DataFrame, selection: Selection | None = None,
                 show: Callable[[Figure], dict] | None = None, visits: pd.DataFrame | None = None):
        import ipywidgets as w

        self.frame = frame
        self.visits = visits
        self.selection = selection or resolve(frame)
        self.figure: Figure | None = None
        self.show = show or png_output
        layout = w.Layout(width="auto")
        self.controls = {
            "model": w.Dropdown(description="model"),
            "dtype": w.Dropdown(description="dtype"),
            "variant": w.Dropdown(description="config"),
            "backends": w.SelectMultiple(description="backends", layout=layout),
            "machines": w.SelectMultiple(description="machines", layout=w.Layout(width="auto", min_width="22em")),
            "x": w.ToggleButtons(options=[(label, key) for key, label in X_AXES.items()], description="x axis"),
            "at": w.Dropdown(description="at"),
            "log_y": w.Checkbox(description="log y axis", indent=False),
            "fit": w.Checkbox(description="two-segment fit", indent=False),
            "decompose": w.Checkbox(description="busy vs overhead", indent=False),
            "metric": w.ToggleButtons(options=[(label, key) for key, label in METRICS.items()], description="metric"),
        }
        self.output = w.Output()
        c = self.controls
        self.widget = w.VBox([w.HBox([c["model"], c["dtype"], c["variant"]]), w.HBox([c["backends"], c["machines"]]),
                              w.HBox([c["x"], c["metric"]]), w.HBox([c["at"], c["log_y"], c["fit"], c["decompose"]]),
                              self.output])
        self._syncing = False
        self._sync()
        self.render()
        for control in c.values():
            control.observe(self._changed, names="value")

    def _sync(self) -> None:
        """Write `selection` and its options into the controls (without triggering a redraw)."""
        s, c = self.selection, self.controls
        self._syncing = True
        try:
            if s is None:
                for control in c.values():
                    control.disabled = True
                return
            found = choices(self.frame, s.model, s.dtype, s.variant, s.x)
            c["model"].options, c["model"].value = found.models, s.model
            c["dtype"].options, c["dtype"].value = found.dtypes, s.dtype
            c["variant"].options = [(variant_label(v), v) for v in found.variants]
            c["variant"].value = s.variant
            c["backends"].options, c["backends"].value = found.backends, s.backends
            c["backends"].rows = max(2, min(len(found.backends), 6))
            c["machines"].options, c["machines"].value = found.machines, s.machines
            c["machines"].rows = max(2, min(len(found.machines), 6))
            c["x"].value = s.x
            c["at"].description = "seq len" if s.x == "batch_size" else "batch"
            c["at"].options, c["at"].value = found.ats, s.at
            c["log_y"].value, c["fit"].value, c["decompose"].value = s.log_y, s.fit, s.decompose
            c["metric"].options = [(METRICS[m], m) for m in found.metrics]
            c["metric"].value = s.metric
            c["fit"].disabled = s.x != "batch_size" or s.metric != "latency"
            c["decompose"].disabled = not found.decomposable or s.metric != "latency"
        finally:
            self._syncing = False

    def _changed(self, change) -> None:
        if self._syncing or self.selection is None:
            return
        wanted = {name: control.value for name, control in self.controls.items()}
        if change["owner"] is self.controls["model"]:  # what the last model narrowed, the new one reopens
            wanted.update(backends=None, machines=None, variant=None, at=None)
        if change["owner"] is self.controls["x"]:
            wanted["at"] = None
        self.selection = resolve(self.frame, **wanted)
        self._sync()
        self.render()

    def select(self, **changes) -> Selection | None:
        """Set controls by name (as a user would) and return the selection that results."""
        for name, value in changes.items():
            self.controls[name].value = value
        return self.selection

    def render(self) -> None:
        self.figure = figure_for(self.frame, self.selection, self.visits)
        self.output.outputs = (self.show(self.figure),)

