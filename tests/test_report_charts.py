"""What the times, scaling and agreement charts draw, read back from their matplotlib artists: medians as
dots with their intervals, time ticks in µs/ms/s, only the rows a panel has, a legend of the marker
styles, slopes fitted above the dispatch floor with their standard error, crossovers between measured
sizes, the check's own measure and tolerances on the agreement heatmap, and hover titles on the
scaling chart. Built on the synthetic run of tests/test_report.py."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure

from bench.fmt import fmt_n, fmt_time
from bench.report import analysis, context, inline_svg, load, tables
from bench.report.charts import agreement, base, hover, scaling, times
from bench.verdicts import row_interval

from .test_report import make_run


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("charts"), "charts", variants=True)
    return context.build([load.load_run(run)])


def _chart(charts, slug):
    (chart,) = [c for c in charts if c.slug == slug]
    return chart


def _panels(chart):
    return {ax.get_title(): ax for ax in chart.figure.axes if ax.get_visible() and ax.get_title()}


def _ticks(ax) -> list[str]:
    return [t.get_text() for t in ax.get_yticklabels()]


def _marks(ax) -> dict[float, tuple]:
    """Row position -> (the dot's x, the whisker's ends, the dot's colour), from the panel's error bars."""
    out = {}
    for container in ax.containers:
        assert isinstance(container, ErrorbarContainer)
        dot, _, (whisker,) = container.lines
        ((x, y),) = zip(dot.get_xdata(), dot.get_ydata())
        ((x0, _), (x1, _)) = whisker.get_segments()[0]
        out[y] = (x, (min(x0, x1), max(x0, x1)), dot.get_color(), dot.get_marker())
    return out


def test_times_chart_draws_each_median_as_a_dot_with_its_interval(ctx):
    chart = _chart(times.charts(ctx), "times-linear_regression-medium-float64-cpu")
    frame = ctx.frame[(ctx.frame["problem"] == "linear_regression") & (ctx.frame["size"] == "medium")]
    styles = base.Styles(ctx)
    for kind, ax in _panels(chart).items():
        assert not ax.patches  # no bar from an arbitrary origin on a log axis
        marks, labels = _marks(ax), _ticks(ax)
        ok = frame[(frame["kind"] == kind) & (frame["status"] == "ok")]
        assert len(marks) == len(ok) > 5
        for r in ok.to_dict("records"):
            x, (lo, hi), colour, marker = marks[labels.index(r["series"])]
            iv = row_interval(r)
            assert x == pytest.approx(r["median"]) and (lo, hi) == pytest.approx((iv.lo, iv.hi))
            assert colour == styles(r["series"]).colour and marker == styles(r["series"]).variant.marker
        texts = [t.get_text() for t in ax.texts]
        assert texts.count("★ fastest") == 1 and sum(t.startswith("×") for t in texts) == len(ok) - 1


def test_a_times_panel_lists_only_the_rows_it_has(ctx):
    chart = _chart(times.charts(ctx), "times-linear_regression-medium-float64-cpu")
    panels = _panels(chart)
    assert "jax+witness" in _ticks(panels["gradient"]) and "article" in _ticks(panels["solve"])
    for kind in ("objective", "hessian"):
        assert not {"jax+witness", "torch+witness", "article"} & set(_ticks(panels[kind]))
    # the same row keeps its colour and marker from panel to panel
    looks = {}
    for ax in panels.values():
        for y, (_, _, colour, marker) in _marks(ax).items():
            looks.setdefault(_ticks(ax)[int(y)], set()).add((colour, marker))
    assert looks and all(len(v) == 1 for v in looks.values())


def test_times_chart_has_a_legend_of_its_marker_styles(ctx):
    chart = _chart(times.charts(ctx), "times-linear_regression-medium-float64-cpu")
    (legend,) = chart.figure.legends
    texts = [t.get_text() for t in legend.get_texts()]
    assert {"eager", "compiled", "an expert's witness", "hand-derived"} <= set(texts)
    wanted = {text: style for style, text in base.STYLE_NAMES.items()}
    for handle, text in zip(legend.legend_handles, texts):
        style = wanted[text]
        assert handle.get_marker() == style.marker
        assert (handle.get_markerfacecolor() == "white") == (not style.filled)


def test_time_axes_tick_in_microseconds_milliseconds_and_seconds(ctx):
    formatter = base.TimeLogFormatter()
    formatter.set_axis(None)
    assert [formatter(v) for v in (1e-6, 1e-4, 1e-3, 2.0)] == ["1 µs", "100 µs", "1 ms", "2 s"]
    linear = Figure().subplots()  # a linear time axis (the history's step chart) reads the same way
    base.time_axis(linear.yaxis)
    assert linear.yaxis.get_major_formatter()(1.5e-3) == "1.5 ms"
    drawn = [
        (_chart(times.charts(ctx), "times-linear_regression-medium-float64-cpu"), "xaxis"),
        (_chart(scaling.charts(ctx), "scaling-quadratic-float64-cpu"), "yaxis"),
    ]
    for chart, which in drawn:
        chart.figure.savefig(io.BytesIO(), format="png")  # ticks are placed and labelled when drawn
        for ax in _panels(chart).values():
            axis = getattr(ax, which)
            assert isinstance(axis.get_major_formatter(), base.TimeLogFormatter)
            labels = [t.get_text() for t in axis.get_ticklabels() if t.get_text()]
            assert labels and all(t.endswith((" ns", " µs", " ms", " s")) for t in labels), labels


def test_a_slope_is_fitted_above_the_dispatch_floor_only_with_its_standard_error():
    x = [1e1, 1e2, 1e3, 1e4, 1e5, 1e6]
    y = [1e-3, 1e-3, 1.2e-3, 1e-2, 1.1e-1, 0.9]  # a floor of 1 ms, then about linear
    fit = analysis.fit_slope(x, y)
    assert fit.sizes == 3  # 1e4, 1e5, 1e6: more than twice the time at the smallest size
    coef, cov = np.polyfit(np.log10(x[3:]), np.log10(y[3:]), 1, cov=True)
    assert fit.slope == pytest.approx(coef[0]) and fit.stderr == pytest.approx(math.sqrt(cov[0][0]))
    assert 0 < fit.stderr < 0.1 and analysis.slope_text(fit._asdict()) == f"slope {coef[0]:.2f} ± {fit.stderr:.2f}"
    few = analysis.fit_slope([100, 1_000, 100_000], [1e-4, 1.5e-4, 1e-2])
    assert math.isnan(few.slope) and few.sizes == 1
    assert analysis.slope_text(few._asdict()) == "no slope (1 size above the floor)"


def test_scaling_chart_and_tables_say_what_the_sizes_support(ctx):
    chart = _chart(scaling.charts(ctx), "scaling-quadratic-float64-cpu")
    slopes = {(s["kind"], s["series"]): s for s in ctx.slopes if s["problem"] == "quadratic"}
    for kind, ax in _panels(chart).items():
        texts = [t.get_text() for t in ax.get_legend().get_texts()]
        for line in ax.get_lines():
            fit = slopes.get((kind, line.get_label()))  # none for a row measured at one size only
            assert (f"{line.get_label()}: {analysis.slope_text(fit)}" if fit else line.get_label()) in texts
    # three sizes, the smallest one the floor: no row has three sizes above it
    assert slopes and all(math.isnan(s["slope"]) and s["sizes"] <= 2 for s in slopes.values())
    assert any("no slope (" in t.get_text() for ax in _panels(chart).values() for t in ax.get_legend().get_texts())
    cross = tables.crossings(ctx)
    assert cross.rows and all("between " in str(r[-1]) and "≈" not in str(r[-1]) for r in cross.rows)
    sizes = set(ctx.frame["n"].astype(float))
    for c in ctx.crossings:
        lo, hi = c["between"]
        assert {lo, hi} <= sizes and lo < c["x"] < hi
        assert analysis.crossing_span(c) == f"between {fmt_n(lo)} and {fmt_n(hi)}"
    boxes = [t.get_text() for ax in _panels(chart).values() for t in ax.texts]
    assert all("≈" not in t for t in boxes)
    assert all(" between " in t for t in boxes if "overtakes" in t)


def test_scaling_points_get_hover_titles(ctx, tmp_path):
    chart = _chart(scaling.charts(ctx), "scaling-quadratic-float64-cpu")
    points = sum(len(line.get_xdata()) for ax in _panels(chart).values() for line in ax.get_lines())
    hover.save(chart, tmp_path, ("svg",), 72, base.save)
    found = inline_svg.bands((tmp_path / "scaling-quadratic-float64-cpu.svg").read_text())
    assert chart.hover == len(found) == points > 20
    row = ctx.frame[
        (ctx.frame["problem"] == "quadratic") & (ctx.frame["series"] == "numpy") & (ctx.frame["kind"] == "gradient")
    ]
    for r in row.to_dict("records"):
        start, end = f"numpy · gradient: {fmt_time(r['median'])} at ", f" = {fmt_n(r['n'])}"
        assert sum(t.startswith(start) and t.endswith(end) for _, t, _ in found) == 1, start
    assert all(w > 0 and h > 0 for _, _, (_, _, w, h) in found)


def _agreement_rows():
    rows = []
    for problem in ("linear_regression", "quadratic"):
        for backend, mode, label in (("numpy", "eager", "numpy"), ("jax", "compiled", "jax+jit")):
            for kind in ("objective", "gradient"):
                hand = 0.0 if backend == "numpy" else 2e-14
                checks = [{"reference": "hand", "rel_error": hand, "rho": hand, "tolerance": 1e-10, "ok": True}]
                if kind == "gradient":
                    fd = {"reference": "finite-difference", "rel_error": 3e-9, "rho": 1e-9, "tolerance": 1e-5}
                    checks.append({**fd, "ok": True})
                rows.append(
                    {
                        "problem": problem,
                        "backend": backend,
                        "mode": mode,
                        "label": label,
                        "dtype": "float64",
                        "kind": kind,
                        "reference": "hand",
                        "rho": hand,
                        "rel_error": hand,
                        "tolerance": 1e-10,
                        "ok": True,
                        "checks": checks,
                    }
                )
        solve = {"reference": "numpy solve", "rel_error": 5e-12, "rho": 5e-12, "tolerance": 1e-10, "ok": True}
        rows.append(
            {
                **{k: rows[-1][k] for k in ("problem", "dtype", "rho", "ok")},
                "backend": "jax",
                "mode": "compiled",
                "label": "jax+witness",
                "variant": "witness",
                "kind": "solve",
                "reference": "numpy solve",
                "rel_error": 5e-12,
                "checks": [solve],
            }
        )
    return rows


def test_agreement_heatmap_shows_the_checks_measure_tolerance_and_numpy_apart(tmp_path):
    run = make_run(tmp_path, "agree")
    (run / "agreement.json").write_text(json.dumps(_agreement_rows()))
    (chart,) = agreement.charts(context.build([load.load_run(run)]))
    heatmaps = [ax for ax in chart.figure.axes if ax.images]
    assert len(heatmaps) == 2
    hand, main = heatmaps
    assert [t.get_text() for t in hand.get_xticklabels()] == ["numpy"]
    assert [t.get_text() for t in main.get_xticklabels()] == ["jax+jit", "jax+witness"]
    # NumPy against finite differences (its hand comparison is 0 by construction); the others against hand
    assert np.allclose(hand.images[0].get_array(), math.log10(3e-9))
    data = main.images[0].get_array()
    assert np.allclose(data[:, 0], math.log10(2e-14)) and np.allclose(data[:, 1], math.log10(5e-12))
    assert hand.images[0].get_cmap().name != main.images[0].get_cmap().name  # visibly apart
    for ax, tolerance in ((hand, 1e-5), (main, 1e-10)):
        bar = ax.images[0].colorbar
        assert "‖x − y‖ / ‖y‖" in bar.ax.get_ylabel()
        assert [line.get_ydata()[0] for line in bar.ax.lines] == [pytest.approx(math.log10(tolerance))]
    # † only where the row has no hand comparison (a solve, against NumPy's)
    marked = {t.get_text() for t in main.texts if "†" in t.get_text()}
    assert marked == {"5e-12†"} and not [t for t in hand.texts if "†" in t.get_text()]
    words = " ".join(t.get_text() for ax in chart.figure.axes for t in [*ax.texts, ax.yaxis.label]) + chart.caption
    assert "ρ" not in words and "rho" not in words


def test_the_tax_chart_counts_and_hatches_by_each_taxs_interval_and_draws_it():
    """A tax of x1.12 whose interval reaches 0.98 is not "above the goal": the title and the hatching follow
    the interval's call, as the glance line does, and each bar carries its interval as whiskers."""
    import types

    import pandas as pd

    from bench.report.charts import tax as tax_chart

    rows = [
        ("kmeans", "jax", 1.12, 0.98, 1.28, "unclear"),
        ("kmeans", "torch", 1.60, 1.50, 1.70, "above"),
        ("xor_net", "jax", 1.00, 0.96, 1.04, "within"),
    ]
    frame = pd.DataFrame(
        [
            {"problem": p, "size": "small", "kind": "gradient", "dtype": "float64", "device": "cpu", "run": "r"}
            | {"backend": b, "best": f"{b}+jit", "tax": t, "tax_lo": lo, "tax_hi": hi, "call": c}
            for p, b, t, lo, hi, c in rows
        ]
    )
    (chart,) = tax_chart.charts(types.SimpleNamespace(tax=frame))
    assert chart.title.startswith("Protocol tax: 1 of 3 within") and chart.title.endswith(", 1 above")
    ax = chart.figure.axes[0]
    hatched = [p.get_hatch() for p in ax.patches if p.get_hatch()]
    assert hatched == ["//"]  # the torch bar only, not the unclear x1.12
    whiskers = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(whiskers) == 3
