"""``python -m bench report``: loading run folders, the analysis behind the charts,
the files written, bad input. Built on small synthetic run folders written here."""

from __future__ import annotations

import csv
import itertools
import json
import math
import re
from pathlib import Path

import pytest

from bench import report, results
from bench.__main__ import main as bench_main
from bench.cli import UsageError
from bench.fmt import fmt_x
from bench.report import analysis, comparison, load
from bench.tax import CALLS
from bench.tax import call as tax_call

LABELS = {  # label: (backend, mode, fixed overhead s, seconds per unit of n)
    "numpy": ("numpy", "eager", 4e-6, 2.0e-9),
    "jax": ("jax", "eager", 3e-4, 1.5e-9),
    "jax+jit": ("jax", "compiled", 1.5e-5, 0.8e-9),
    "torch": ("torch", "eager", 6e-5, 1.2e-9),
    "torch+compile": ("torch", "compiled", 4e-5, 1.0e-9),
    "tensorflow": ("tensorflow", "eager", 6e-4, 1.6e-9),
    "tensorflow+function": ("tensorflow", "compiled", 9e-5, 1.1e-9),
}
#: the other variants (an eager one that is not the default, a second compiled one), with ``variants=True``
MORE_LABELS = {
    "torch+autograd": ("torch", "eager", 8e-5, 1.3e-9),
    "tensorflow+xla": ("tensorflow", "compiled", 7e-5, 0.9e-9),
}
#: an expert's witness for a few headline cells, with ``variants=True``
WITNESSES = {
    "jax+witness": ("jax", "compiled", 1.2e-5, 0.75e-9),
    "torch+witness": ("torch", "eager", 3e-5, 0.7e-9),
    "tensorflow+witness": ("tensorflow", "compiled", 5e-5, 0.9e-9),
}
HEADLINE = (("linear_regression", "medium", "gradient"), ("quadratic", "large", "gradient"))
VARIANT = {
    "numpy": "hand",
    "jax": "eager",
    "jax+jit": "jit",
    "torch": "func",
    "torch+compile": "compile",
    "torch+autograd": "autograd",
    "tensorflow": "tape",
    "tensorflow+function": "function",
    "tensorflow+xla": "xla",
    "article": "eager",
}
KIND_COST = {"objective": 1.0, "gradient": 2.5, "hessian": 12.0, "solve": 150.0}
PROBLEMS = {  # problem: sizes {name: (n, n_params)}
    "linear_regression": {"article": (3, 2), "small": (1_000, 10), "medium": (100_000, 10)},
    "quadratic": {"small": (100, 100), "medium": (10_000, 10_000), "large": (1_000_000, 1_000_000)},
}


def rows(
    run: str = "r1", machine: str = "box-a", slow: dict | None = None, crashed: tuple = (), variants: bool = False
):
    """Tidy rows of a synthetic run; ``slow`` multiplies some labels' times; ``variants`` adds
    the other variants of torch and tensorflow and the witnesses of the headline cells."""
    slow = slow or {}
    known = {**LABELS, **(MORE_LABELS if variants else {}), **(WITNESSES if variants else {})}
    out = []
    for problem, sizes in PROBLEMS.items():
        for size, (n, n_params) in sizes.items():
            for kind, cost in KIND_COST.items():
                if kind == "hessian" and n_params > 1_000:
                    continue
                labels = list(LABELS) + (list(MORE_LABELS) if variants else [])
                labels += ["article"] if kind == "solve" and problem == "linear_regression" else []
                labels += list(WITNESSES) if variants and (problem, size, kind) in HEADLINE else []
                for label in labels:
                    backend, mode, fixed, per_n = known.get(label, ("article", "eager", 3e-6, 2.2e-9))
                    median = (fixed + per_n * n) * cost * slow.get(label, 1.0)
                    status = "crashed" if (problem, size, label, kind) in crashed else "ok"
                    out.append(
                        {
                            "problem": problem,
                            "size": size,
                            "n": n,
                            "n_params": n_params,
                            "backend": backend,
                            "mode": mode,
                            "label": label,
                            "variant": VARIANT.get(label, "witness"),
                            "dtype": "float64",
                            "device": "cpu",
                            "threads": 1,
                            "kind": kind,
                            "status": status,
                            "reason": "worker exited with signal 9" if status != "ok" else "",
                            "median": median if status == "ok" else "",
                            "iqr": median * 0.04,
                            "min": median * 0.97,
                            "mean": median * 1.01,
                            "stddev": median * 0.03,
                            "rounds": 50,
                            "first_call": median * (2 if mode == "eager" else 4000)
                            + (0.3 if mode == "compiled" else 0),
                            "ratio": cost * slow.get(label, 1.0) / slow.get(label, 1.0),
                            "peak_mem_mb": 120.0,
                            "version": "1.0",
                            "machine": machine,
                            "run": run,
                        }
                    )
    return out


def agreement_rows(fail: bool = True):
    out = []
    for problem in PROBLEMS:
        for label, (backend, mode, _, _) in LABELS.items():
            for kind in ("objective", "gradient", "hessian"):
                bad = fail and problem == "quadratic" and label == "tensorflow+function" and kind == "hessian"
                rho = 0.0 if backend == "numpy" else (3e-4 if bad else 2e-16)
                out.append(
                    {
                        "problem": problem,
                        "backend": backend,
                        "mode": mode,
                        "dtype": "float64",
                        "kind": kind,
                        "reference": "hand",
                        "rho": rho,
                        "tolerance": 1e-10,
                        "ok": not bad,
                        "where": 0,
                        "checks": [
                            {"reference": "hand", "rho": rho, "tolerance": 1e-10, "ok": not bad},
                            {"reference": "finite-difference", "rho": 1e-9, "tolerance": 1e-6, "ok": True},
                        ],
                    }
                )
    return out


def article_doc(backend: str) -> dict:
    history = [0.5 * 0.99**i for i in range(100)]
    x = [-2 + 6 * i / 60 for i in range(61)]
    return {
        "format": 1,
        "backend": backend,
        "version": "1.0",
        "dtype": "float64",
        "device": "cpu",
        "notes": [],
        "pictures": {
            "cost_history": {
                "problem": "linear_regression",
                "size": "article",
                "rate": 0.01,
                "iterations": 100,
                "history": history,
                "params": [[0.11, 0.95]],
            },
            "lr_sweep": {
                "problem": "quadratic",
                "steps": 3,
                "records": [
                    {"rate": 0.01, "status": "slow", "history": [2.0, 1.96, 1.92, 1.88]},
                    {"rate": 0.5, "status": "converged", "history": [2.0, 0.0, 0.0, 0.0]},
                    {"rate": 1.1, "status": "diverged", "history": [2.0, 2.4, 2.9, None]},
                ],
            },
            "fd_steps": {
                "records": [
                    {
                        "function": "x^2",
                        "method": m,
                        "h": 10.0**-k,
                        "error": (10.0**-k if m == "forward" else 10.0 ** (-2 * k)) + 1e-16 * 10**k,
                    }
                    for k in range(1, 12)
                    for m in ("forward", "central")
                ]
                + [{"function": "x^2", "method": "autodiff", "h": None, "error": 0.0}],
                "best": None,
            },
            "derivatives": {
                "function": "x^3 - 3x^2 + 2",
                "first": "3x^2 - 6x",
                "second": "6x - 6",
                "x": x,
                "f": [t**3 - 3 * t**2 + 2 for t in x],
                "df": [3 * t**2 - 6 * t for t in x],
                "d2f": [6 * t - 6 for t in x],
                "critical": [{"x": 0.0, "kind": "maximum"}, {"x": 2.0, "kind": "minimum"}],
            },
        },
    }


def write_csv(path: Path, records: list[dict]) -> None:
    with open(path, "w", newline="") as fh:
        columns = [*results.COLUMNS, *(c for c in results.EXTRA_COLUMNS if records and c in records[0])]
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(records)


def make_run(
    folder: Path,
    name: str = "r1",
    machine: str = "box-a",
    slow: dict | None = None,
    crashed: tuple = (("quadratic", "large", "jax", "gradient"),),
    fail: bool = True,
    article: tuple = ("numpy", "jax"),
    variants: bool = False,
    env: dict | None = None,
) -> Path:
    """A complete synthetic run folder: results.csv, env.json (``env`` overrides entries),
    agreement.json, article-*.json."""
    run = folder / name
    run.mkdir(parents=True)
    write_csv(run / "results.csv", rows(name, machine, slow, crashed, variants))
    (run / "env.json").write_text(
        json.dumps(
            {
                "machine": machine,
                "cpu": "Synthetic CPU @ 3 GHz",
                "cores": 2,
                "python": "3.11.9",
                "versions": {"numpy": "2.4.6", "jax": "0.10.2"},
                "threads": [1],
                "devices": ["cpu"],
                "commands": [{"command": "python -m bench run", "started": "2026-11-29T13:44:03+0000"}],
                **(env or {}),
            }
        )
    )
    (run / "agreement.json").write_text(json.dumps(agreement_rows(fail)))
    for backend in article:
        (run / f"article-{backend}.json").write_text(json.dumps(article_doc(backend)))
    return run


@pytest.fixture
def run_dir(tmp_path):
    return make_run(tmp_path)


def test_report_writes_charts_markdown_html_and_prints_the_path(run_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert bench_main(["report", str(run_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert str(out / "index.html") in printed
    pngs = sorted((out / "charts").glob("*.png"))
    svgs = sorted((out / "charts").glob("*.svg"))
    names = {p.stem for p in pngs}
    assert {p.stem for p in svgs} == names
    for expected in (
        "times-linear_regression-small-float64-cpu",
        "scaling-quadratic-float64-cpu",
        "ratio-gradient-float64-cpu",
        "compile-first-call",
        "compile-break-even",
        "agreement-float64",
        "article-cost-history",
        "article-lr-sweep",
        "article-fd-steps",
        "article-derivatives",
    ):
        assert expected in names
    page = (out / "index.html").read_text()
    assert page.count('<img src="data:image/png;base64,') == len(pngs)
    assert 'class="sortable"' in page and "Synthetic CPU" in page
    md = (out / "report.md").read_text()
    for png in pngs:
        assert f"charts/{png.name}" in md
    assert "FAILED" in md  # the failing check is in the summary


def test_charts_are_real_images(run_dir, tmp_path):
    import matplotlib.image as mpimg

    out = report.write_report([run_dir], out=tmp_path / "out", formats=("png",), only=["agreement", "times"])
    for png in (out / "charts").glob("*.png"):
        image = mpimg.imread(png)
        assert image.shape[0] > 200 and image.shape[1] > 400
        assert image.std() > 0.01  # not a blank canvas


def test_missing_run_dir_is_a_one_line_usage_error(tmp_path, capsys):
    assert bench_main(["report", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: run folder") and "nope" in err and "\n" not in err


def test_empty_folder_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert bench_main(["report", str(tmp_path / "empty")]) == 2
    assert "no results in" in capsys.readouterr().err


def test_bad_format_and_group_are_usage_errors(run_dir, capsys):
    assert bench_main(["report", str(run_dir), "--formats", "gif"]) == 2
    assert bench_main(["report", str(run_dir), "--only", "pie"]) == 2
    assert "unknown chart group 'pie'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "name,content",
    [
        ("agreement.json", '[{"problem": "quadratic", "backend": '),  # truncated
        ("agreement.json", '{"hello": "world"}'),  # foreign
        ("env.json", "\x00\x01 not json"),  # corrupt
        ("article-torch.json", '{"backend": "torch"}'),  # foreign
    ],
)
def test_a_bad_file_is_named_skipped_and_the_rest_used(run_dir, tmp_path, capsys, name, content):
    (run_dir / name).write_text(content)
    out = tmp_path / "out"
    assert (
        bench_main(
            [
                "report",
                str(run_dir),
                "--out",
                str(out),
                "--formats",
                "png",
                "--only",
                "times,article",
                "--charts",
                "times-linear_regression-*,article-*",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert f"{run_dir / name}" in err
    assert (out / "charts" / "times-linear_regression-small-float64-cpu.png").is_file()
    assert "Files skipped" in (out / "index.html").read_text()


def test_corrupt_results_table_falls_back_to_cell_records(tmp_path, capsys):
    run = tmp_path / "r"
    (run / "cells").mkdir(parents=True)
    (run / "results.csv").write_text('this,is\nnot,"a results table\n')
    good = rows("r")[:40]
    for i, rec in enumerate(good):
        (run / "cells" / f"c{i}.json").write_text(
            json.dumps({"schema": "autodiff-bench/cell/1", "cell": f"c{i}", **rec})
        )
    (run / "cells" / "broken.json").write_text('{"problem": "linear_regression", "ki')
    loaded = load.load_run(run)
    assert len(loaded.table) == 40
    assert any("broken.json" in line for line in loaded.skipped)


def test_fastest_and_margin():
    import pandas as pd

    frame = load.combine([load.Run(Path("x"), "x", results.typed(pd.DataFrame(rows())))])
    best = analysis.fastest(frame)
    row = best[(best["problem"] == "quadratic") & (best["size"] == "large") & (best["kind"] == "gradient")].iloc[0]
    # per-n cost dominates at 1e6: jax+jit (0.8e-9 per n) wins over torch+compile (1.0e-9)
    assert row["fastest"] == "jax+jit" and row["runner_up"] == "torch+compile"
    assert row["margin"] == pytest.approx((4e-5 + 1e-3) / (1.5e-5 + 0.8e-3), rel=1e-6)
    small = best[
        (best["problem"] == "linear_regression") & (best["size"] == "article") & (best["kind"] == "objective")
    ].iloc[0]
    assert small["fastest"] == "numpy"


def test_crashed_cell_never_wins_and_is_reported(run_dir, tmp_path):
    frame = load.combine([load.load_run(run_dir)])
    crashed = frame[(frame["status"] == "crashed")]
    assert len(crashed) == 1 and math.isnan(crashed["median"].iloc[0])
    out = report.write_report([run_dir], out=tmp_path / "o", formats=("png",), only=["times"])
    assert "crashed: worker exited with signal 9" in (out / "index.html").read_text()


def test_slope_of_a_power_law():
    n = [10, 100, 1000, 10_000]
    assert analysis.fit_slope(n, [3e-6 * x**1.5 for x in n]).slope == pytest.approx(1.5)
    assert math.isnan(analysis.fit_slope([10], [1.0]).slope)


def test_crossover_is_located_in_log_log_space():
    # a = 1e-3 flat, b = 1e-6 * n: b is faster below n = 1000 and slower above
    xs = [10.0, 100.0, 1e4, 1e5]
    curves = {"a": (xs, [1e-3] * 4), "b": (xs, [1e-6 * x for x in xs])}
    (cross,) = analysis.crossovers(curves)
    assert cross["x"] == pytest.approx(1000.0)
    assert cross["winner"] == "a" and cross["loser"] == "b"
    assert cross["time"] == pytest.approx(1e-3)
    assert analysis.crossovers({"a": (xs, [1.0] * 4), "b": (xs, [2.0] * 4)}) == []


def test_break_even_calls():
    import pandas as pd

    base = {
        "run": "r",
        "problem": "p",
        "size": "s",
        "n": 1,
        "dtype": "float64",
        "device": "cpu",
        "kind": "gradient",
        "backend": "jax",
        "status": "ok",
    }
    frame = results.typed(
        pd.DataFrame(
            [
                {**base, "mode": "eager", "label": "jax", "median": 1e-3, "first_call": 2e-3},
                {**base, "mode": "compiled", "label": "jax+jit", "median": 1e-4, "first_call": 0.5},
                {**base, "kind": "solve", "mode": "eager", "label": "jax", "median": 1e-3, "first_call": 1e-3},
                {**base, "kind": "solve", "mode": "compiled", "label": "jax+jit", "median": 2e-3, "first_call": 0.5},
            ]
        )
    )
    by_kind = {r["kind"]: r["calls"] for r in analysis.break_even(frame)}
    # (0.5 - 0.002) / (0.001 - 0.0001) = 553.3 -> 554 more calls, 555 in all
    assert by_kind["gradient"] == 555
    assert math.isinf(by_kind["solve"])


def test_agreement_table_marks_failures(run_dir):
    table = analysis.agreement_table([load.load_run(run_dir)])
    failed = table[~table["ok"]]
    assert list(failed["label"]) == ["tensorflow+function"] and list(failed["kind"]) == ["hessian"]
    assert failed["rho"].iloc[0] == pytest.approx(3e-4)
    assert set(table["reference"]) == {"hand"}


def test_compare_flags_changes_beyond_the_noise(tmp_path):
    before = make_run(tmp_path, "before")
    after = make_run(tmp_path, "after", slow={"torch": 2.0, "jax": 1.01})
    out = tmp_path / "out"
    assert (
        bench_main(
            ["report", str(after), "--compare", str(before), "--out", str(out), "--formats", "png", "--only", "compare"]
        )
        == 0
    )
    changes = comparison.compare(load.combine([load.load_run(after)]), load.combine([load.load_run(before)]))
    torch = changes[changes["label"] == "torch"]
    assert (torch["flag"] == "slower").all() and torch["change"].iloc[0] == pytest.approx(1.0)
    jax = changes[(changes["label"] == "jax") & changes["median"].notna()]
    assert (jax["flag"] == "").all()  # 1% slower, inside the 4% IQR noise
    assert (out / "charts" / "compare.png").is_file()
    assert "slower" in (out / "report.md").read_text()


def test_compare_flags_a_status_change(tmp_path):
    before = make_run(tmp_path, "before", crashed=())
    after = make_run(tmp_path, "after")
    changes = comparison.compare(load.combine([load.load_run(after)]), load.combine([load.load_run(before)]))
    flagged = changes[changes["flag"] == "status"]
    assert len(flagged) == 1 and flagged["status"].iloc[0] == "crashed"


def test_several_runs_side_by_side(tmp_path):
    a = make_run(tmp_path / "ci", "linux-job", machine="box-a")
    b = make_run(tmp_path / "gpu", "gpu-host", machine="box-b", slow={"numpy": 3.0})
    out = report.write_report([a, b], out=tmp_path / "out", formats=("png",), only=["times", "agreement"])
    page = (out / "index.html").read_text()
    # one run per machine: each is named by its machine
    assert "numpy @ box-a" in page and "numpy @ box-b" in page
    assert "linux-job" in page and "gpu-host" in page  # the folders, in the environment table
    frame = load.combine([load.load_run(a), load.load_run(b)])
    assert set(frame["series"]) >= {"jax+jit @ linux-job", "jax+jit @ gpu-host"}
    # the same machine twice: runs keep their folder names
    c = make_run(tmp_path / "again", "rerun", machine="box-a")
    out = report.write_report([a, c], out=tmp_path / "out2", formats=("png",), only=["agreement"])
    page = (out / "index.html").read_text()
    assert "linux-job" in page and "rerun" in page


def test_same_folder_names_get_distinct_tags(tmp_path):
    a = make_run(tmp_path / "x", "run")
    b = make_run(tmp_path / "y", "run")
    assert load.unique_tags([a, b]) == ["x/run", "y/run"]


def test_html_has_no_external_resources(run_dir, tmp_path):
    out = report.write_report([run_dir], out=tmp_path / "out", formats=("png", "svg"), only=["article"])
    page = (out / "index.html").read_text()
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert not re.search(r'<img src="(?!data:image/png;base64,)', page)


def test_newest_run_is_the_default(tmp_path, monkeypatch, capsys):
    make_run(tmp_path / "results", "old")
    newest = make_run(tmp_path / "results", "new")
    monkeypatch.chdir(tmp_path)
    assert load.newest_run() == Path("results") / "new" or load.newest_run().name == newest.name
    assert bench_main(["report", "--only", "agreement", "--formats", "png"]) == 0
    assert "results/new/report/index.html" in capsys.readouterr().out


def test_chosen_charts_only(run_dir, tmp_path, capsys):
    out = tmp_path / "readme"
    assert (
        bench_main(
            [
                "report",
                str(run_dir),
                "--out",
                str(out),
                "--charts",
                "agreement-*,article-cost-history",
                "--charts-only",
                "--formats",
                "png",
                "--dpi",
                "60",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in (out / "charts").iterdir()) == ["agreement-float64.png", "article-cost-history.png"]
    assert not (out / "index.html").exists() and not (out / "report.md").exists()
    assert bench_main(["report", str(run_dir), "--out", str(out), "--charts", "no-such-chart"]) == 2
    assert "no chart matches no-such-chart" in capsys.readouterr().err


def test_a_foreign_results_table_is_named_once(run_dir, capsys):
    (run_dir / "results.csv").write_text("name,score\nalice,3\n")
    with pytest.raises(UsageError, match="does not exist"):
        load.load_run(run_dir / "missing")
    run = load.load_run(run_dir)
    assert len(run.table) == 0 and run.agreement  # the agreement check is still used
    lines = [line for line in run.skipped if "results.csv" in line]
    assert len(lines) == 1 and str(run_dir / "results.csv") in lines[0]


def test_no_run_folder_anywhere_is_a_usage_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert bench_main(["report"]) == 2
    err = capsys.readouterr().err
    assert "no run folder given and none found under results/" in err and err.count("\n") == 1


# --- variants, the protocol tax, environments, the package's shape ---------------------------------


@pytest.fixture(scope="module")
def variants_run(tmp_path_factory):
    """A run with every variant of torch and tensorflow and the witnesses of two headline cells."""
    return make_run(tmp_path_factory.mktemp("variants"), "variants", variants=True)


@pytest.fixture(scope="module")
def variants_report(variants_run, tmp_path_factory):
    out = report.write_report(
        [variants_run],
        out=tmp_path_factory.mktemp("variants-report"),
        formats=("png",),
        select=["protocol-tax", "compile-*"],
    )
    return out, (out / "report.md").read_text(), (out / "index.html").read_text()


def test_compiled_comes_from_the_mode_column_not_the_label(variants_run):
    frame = load.combine([load.load_run(variants_run)])
    rows = analysis.series_rows(frame, "label")
    assert rows["torch+autograd"].mode == "eager" and rows["torch"].mode == "eager"
    assert rows["tensorflow+xla"].mode == "compiled" and rows["torch+compile"].mode == "compiled"
    assert {r.role for label, r in rows.items() if label.endswith("witness")} == {"witness"}
    assert rows["article"].role == "article" and rows["jax+jit"].role == "protocol"
    # compiling pays off against the backend's default eager row; torch+autograd is never a compiled row
    pairs = {(r["label"], r["eager_label"]) for r in analysis.break_even(frame)}
    assert pairs == {
        ("jax+jit", "jax"),
        ("torch+compile", "torch"),
        ("tensorflow+function", "tensorflow"),
        ("tensorflow+xla", "tensorflow"),
    }


def test_every_label_has_its_own_stable_style(variants_run):
    from bench.report import context
    from bench.report.charts.base import Styles

    ctx = context.build([load.load_run(variants_run)])
    styles = Styles(ctx)
    labels = sorted(set(ctx.frame["label"]))
    assert {"torch+autograd", "tensorflow+xla", "jax+witness", "article"} <= set(labels)
    looks = {label: (styles(label).colour, styles(label).variant) for label in labels}
    assert len(set(looks.values())) == len(labels)  # no two labels drawn alike
    assert styles("torch").colour == styles("torch+autograd").colour  # colour: the backend
    assert not styles("torch+autograd").variant.filled and styles("tensorflow+xla").variant.filled
    assert looks == {label: (Styles(ctx)(label).colour, Styles(ctx)(label).variant) for label in labels}
    order = analysis.series_order(ctx.frame, "label")
    assert (
        order.index("torch")
        < order.index("torch+autograd")
        < order.index("torch+compile")
        < order.index("torch+witness")
        < order.index("tensorflow")
    )


def test_protocol_tax_chart_and_table(variants_run, variants_report):
    from bench.fmt import fmt_time, fmt_x

    out, md, page = variants_report
    assert (out / "charts" / "protocol-tax.png").is_file()
    tax = analysis.protocol_tax(load.combine([load.load_run(variants_run)]))
    assert len(tax) == 6 and set(tax["backend"]) == {"jax", "torch", "tensorflow"}
    jax = tax[(tax["problem"] == "quadratic") & (tax["backend"] == "jax")].iloc[0]
    assert jax["best"] == "jax+jit"  # the witness itself is never the best protocol row
    n = 1_000_000
    assert jax["tax"] == pytest.approx((1.5e-5 + 0.8e-9 * n) / (1.2e-5 + 0.75e-9 * n))
    tf = tax[(tax["problem"] == "linear_regression") & (tax["backend"] == "tensorflow")].iloc[0]
    assert tf["best"] == "tensorflow+xla"
    row = (
        f"| quadratic | large | gradient | jax | jax+jit | {fmt_time(jax['best_median'])} | "
        f"{fmt_time(jax['witness_median'])} | {fmt_x(jax['tax'])} |"
    )
    assert "Protocol tax" in md and row in md
    assert 'id="tax-table"' in page and page.count("<tr>", page.index('id="tax-table"')) >= 6
    assert "Protocol tax:" in md.split("## At a glance")[1].split("##")[0]  # the headline figure


def test_every_tax_not_within_the_goal_gets_a_sentence_with_its_interval(variants_run, variants_report):
    """A tax whose 95% interval is not wholly inside 0.91-1.10 is said: above the goal, the witness
    beaten (not the expert's best), or not told apart from the goal by this run."""
    _, md, page = variants_report
    tax = analysis.protocol_tax(load.combine([load.load_run(variants_run)]))
    said = tax[tax["call"] != "within"]
    assert len(said) and (tax["tax_lo"] < tax["tax"]).all() and (tax["tax"] < tax["tax_hi"]).all()
    for _, r in said.iterrows():
        sentence = (
            f"**{r['best']} {fmt_x(r['tax'])}** on {r['problem']} {r['size']} {r['kind']} "
            f"(95% interval {r['tax_lo']:.2f}-{r['tax_hi']:.2f}): {CALLS[r['call']]}"
        )
        assert sentence in md
    assert "above the goal beyond the noise" in page or "cannot tell it from the goal" in page


def test_a_tax_call_follows_its_interval():
    from bench.stats import Interval

    assert tax_call(Interval(1.0, 0.95, 1.05)) == "within"
    assert tax_call(Interval(1.3, 1.2, 1.4)) == "above"
    assert tax_call(Interval(0.5, 0.4, 0.6)) == "witness_slow"
    assert tax_call(Interval(1.05, 0.9, 1.2)) == "unclear"
    assert tax_call(Interval(1.05, 0.0, float("inf"))) == "unknown"


def test_no_witness_no_tax_chart_nor_section(run_dir, tmp_path):
    out = report.write_report([run_dir], out=tmp_path / "out", formats=("png",), only=["tax"])
    assert not list((out / "charts").glob("protocol-tax*"))
    for page in ((out / "report.md").read_text(), (out / "index.html").read_text()):
        assert "Protocol tax" not in page and "tax-table" not in page


def test_best_variant_per_framework_and_kind(variants_run, variants_report):
    _, md, page = variants_report
    table = analysis.best_variants(load.combine([load.load_run(variants_run)]))
    assert set(table["backend"]) == {"jax", "torch", "tensorflow"}  # one variant only: nothing to choose
    best = {(r.backend, r.kind): r for r in table.itertuples()}
    torch = best[("torch", "gradient")]
    assert torch.best == "torch+compile" and torch.wins == torch.cells == 6
    assert set(torch.others) == {"torch", "torch+autograd"}  # the witness is no variant
    assert all(x > 1 for x in torch.others.values())
    assert best[("tensorflow", "solve")].best == "tensorflow+xla" and best[("jax", "objective")].best == "jax+jit"
    assert "Each framework's best variant" in md and 'id="variants-table"' in page
    assert "| torch | gradient | torch+compile | 6 of 6 cells |" in md


def test_compare_names_what_differs_between_the_environments(tmp_path):
    before = make_run(tmp_path, "before")
    moved = make_run(
        tmp_path,
        "moved",
        env={"cpu": "Other CPU @ 2 GHz", "versions": {"numpy": "2.4.6", "jax": "0.11.0"}},
    )
    out = report.write_report([moved], compare_with=before, out=tmp_path / "out", formats=("png",), only=["compare"])
    md, page = (out / "report.md").read_text(), (out / "index.html").read_text()
    sentence = comparison.NOT_REGRESSIONS
    assert sentence in md and sentence in page
    assert md.index(sentence, md.index("## Change against")) < md.index("Every cell in both runs")
    assert page.index(sentence, page.index('id="compare"')) < page.index('id="compare-table"')
    section = md.split("## Change against")[1].split("\n## ")[0]
    for row in (
        "| cpu | Synthetic CPU @ 3 GHz | Other CPU @ 2 GHz |",
        "| versions.jax | 0.10.2 | 0.11.0 |",
    ):
        assert row in section
    assert "versions.numpy" not in section and "| cores |" not in section  # only what differs
    assert "## Time per row label" not in md and "## Scaling" not in md  # --only compare: its section only
    # a setting that differs is named, but is no different machine
    threads = make_run(tmp_path, "threads", env={"threads": [2]})
    out = report.write_report([threads], compare_with=before, out=tmp_path / "out2", formats=("png",), only=["compare"])
    md = (out / "report.md").read_text()
    assert "| threads | 1 | 2 |" in md and sentence not in md
    # the same environment: said so, no sentence
    same = make_run(tmp_path, "same")
    out = report.write_report([same], compare_with=before, out=tmp_path / "out3", formats=("png",), only=["compare"])
    md = (out / "report.md").read_text()
    assert "same environment" in md and sentence not in md


def test_compare_axis_ticks_never_crowd():
    from bench.report.charts.compare import MAX_TICKS, ticks

    for span in (0.097, 0.2, 0.376, 1.0, 2.5):
        chosen = [math.log10(t) for t in ticks(span)]
        assert 0.0 in chosen and len(chosen) <= MAX_TICKS
        assert all(b - a >= 2 * span / MAX_TICKS - 1e-12 for a, b in itertools.pairwise(chosen))


#: the report never needs a framework, and imports no heavy library at import time
FRAMEWORKS = ("jax", "torch", "tensorflow")
HEAVY = ("pandas", *FRAMEWORKS)
PAGE = ("bench.report.outline", "bench.report.tables", "bench.report.render_md", "bench.report.render_html")


def test_report_modules_import_one_way():
    """The report package's own rules; layers, circles and sizes are tests/test_architecture.py's, from one walk."""
    from .test_architecture import GRAPH, import_statements

    modules = {name for name in GRAPH if name == "bench.report" or name.startswith("bench.report.")}
    assert {
        "bench.report",
        "bench.report.load",
        "bench.report.analysis",
        "bench.report.outline",
        "bench.report.charts",
        "bench.report.charts.base",
    } <= modules
    for name in modules:
        inside = GRAPH[name] & modules
        if name != "bench.report":
            assert "bench.report" not in inside, f"{name} imports the package's __init__"
        statements = import_statements(name)
        assert not [t for t, _ in statements if t.split(".")[0] in FRAMEWORKS or t.startswith("bench.runner")], name
        assert not [t for t, top in statements if top and t.split(".")[0] in HEAVY], (
            f"{name} imports a heavy library at import time"
        )
        # pictures and pages apart: charts never read the page, the page never draws
        if name.startswith("bench.report.charts"):
            assert not inside & set(PAGE), name
        if name in PAGE:
            assert not any(t.startswith("bench.report.charts") for t in inside), name


def test_a_busy_machine_is_said_at_a_glance(tmp_path):
    verdict = "numpy-cpu-t1: the machine was not quiet (other processes used 45% of the CPUs)"
    run = make_run(
        tmp_path,
        env={
            "machine_state": {
                "numpy-cpu-t1": {"others_cpu_share": 0.45, "verdict": verdict},
                "jax-cpu-t1": {"others_cpu_share": 0.01, "verdict": None},
            }
        },
    )
    out = report.write_report([run], out=tmp_path / "out", formats=("png",), dpi=40, only=["times"])
    text = (out / "report.md").read_text()
    glance = text[text.index("At a glance") :]
    assert "Not a quiet machine:" in glance and verdict in glance
    quiet = make_run(tmp_path / "quiet", env={"machine_state": {"jax-cpu-t1": {"verdict": None}}})
    out = report.write_report([quiet], out=tmp_path / "out2", formats=("png",), dpi=40, only=["times"])
    assert "Not a quiet machine" not in (out / "report.md").read_text()


def test_gradbench_workloads_are_drawn_as_gradbench_shows_them(tmp_path):
    from bench import results as tidy

    run = tmp_path / "gb"
    for problem, sizes in (("lse", ("n2500", "n5000", "small")), ("llsq", ("n16", "n32"))):
        for size in sizes:
            for label, backend, variant, mode, t in (
                ("numpy", "numpy", "hand", "eager", 1e-3),
                ("jax+jit", "jax", "jit", "compiled", 5e-4),
                ("jax", "jax", "eager", "eager", 2e-3),
            ):
                for kind, factor in (("objective", 1.0), ("gradient", 2.5)):
                    cell = f"{problem}-{size}-{label}-float64-{kind}-cpu-t1"
                    tidy.save(
                        run,
                        cell,
                        tidy.record(
                            cell=cell,
                            problem=problem,
                            size=size,
                            n=1000,
                            backend=backend,
                            mode=mode,
                            variant=variant,
                            label=label,
                            dtype="float64",
                            device="cpu",
                            threads=1,
                            kind=kind,
                            status="ok",
                            median=t * factor,
                            iqr=t * 0.01,
                            min=t,
                            mean=t,
                            stddev=t * 0.01,
                            rounds=10,
                            first_call=t,
                            machine="m",
                            run="gb",
                        ),
                    )
    out = report.write_report([run], out=tmp_path / "out", formats=("png",), dpi=40, only=["gradbench"])
    names = sorted(p.name for p in (out / "charts").glob("*.png"))
    assert names == ["gradbench-ratio-float64-cpu.png", "gradbench-times-float64-cpu.png"]
    from bench.report.charts import gradbench

    frame = tidy.load(run, write_csv=False)
    assert gradbench.workloads(frame) == {"lse": ["n2500", "n5000"], "llsq": ["n16", "n32"]}  # "small" is ours
    best = gradbench.best_rows(frame)
    jax = best[(best["backend"] == "jax") & (best["problem"] == "lse") & (best["size"] == "n2500")].iloc[0]
    assert jax["label"] == "jax+jit" and jax["ratio"] == pytest.approx(2.5)
    assert "GradBench's workloads" in (out / "report.md").read_text()
