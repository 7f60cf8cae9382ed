"""CONTRIBUTING.md's chart recipe, followed once: a chart module (rounds timed per row label), shown by
one added line in ``bench.report.sections.SECTIONS`` (tests/test_recipes.py adds it)."""

from __future__ import annotations

from bench.report.charts.base import Chart


def charts(context) -> list[Chart]:
    from matplotlib.figure import Figure

    ok = context.frame[context.frame["status"] == "ok"]
    fig = Figure(figsize=(4, 3))
    ax = fig.subplots()
    ax.bar(list(ok["series"].astype(str)), list(ok["rounds"].astype(float)))
    ax.set_ylabel("rounds timed")
    return [Chart("rounds", "rounds-per-label", "Rounds per row label", "How many rounds each row was timed.", fig)]
