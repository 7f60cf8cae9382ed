"""What a user reads first: the run's closing summary, the errors of a mistyped option, an empty
plan, ``bench list`` on a broken framework, what ``report`` is drawing."""

from __future__ import annotations

import argparse
import io
import re

import pytest
from rich.console import Console

from bench import results
from tests.support import REPO

REFERENCE = REPO / "results" / "reference"


def rendered(frame, width: int = 80, warnings=()) -> str:
    from bench.runner.summary import print_summary

    out = io.StringIO()
    print_summary(frame, Console(file=out, width=width), list(warnings))
    return out.getvalue()


def test_the_runs_summary_fits_80_columns_and_cuts_no_cell():
    text = rendered(results.load(REFERENCE, write_csv=False))
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in text
    assert "Fastest gradient per problem and size (float64, cpu, 2 threads)" in text  # the kind, shared settings
    assert "Fastest solve per problem and size" in text
    assert not any(line.split()[:1] == ["dtype"] for line in lines)  # one dtype: no column of it
    assert "logistic_regression" in text and "tensorflow+xla" in text  # the longest names whole


def summary_frame():
    import pandas as pd

    rows = [
        {
            "problem": "logistic_regression",
            "size": "small",
            "n": 100,
            "dtype": "float64",
            "device": "cpu",
            "threads": 2,
            "kind": kind,
            "status": "ok",
            "backend": backend,
            "variant": variant,
            "label": label,
            "median": median * (10 if kind == "solve" else 1),
            "first_call": median * 3,
            "rounds": 100,
        }
        for kind in ("objective", "gradient", "solve")
        for backend, variant, label, median in [
            ("numpy", "hand", "numpy", 3e-4),
            ("jax", "jit", "jax+jit", 1e-4),
            ("tensorflow", "function", "tensorflow+function", 2e-4),
        ]
    ]
    return results.typed(pd.DataFrame(rows))


def test_the_summary_reads_as_speed_ups_and_leaves_deriv_obj_off_solves():
    from bench.runner.summary import summary_rows, summary_tables

    frame = summary_frame()
    frame["ratio"] = results._ratios(frame)
    rows = summary_rows(frame)
    gradient, solve = summary_tables(rows)
    assert gradient.title.startswith("Fastest gradient") and solve.title.startswith("Fastest solve")
    headers = lambda table: [str(c.header).replace("\n", " ") for c in table.columns]  # noqa: E731
    assert "deriv/ obj" in headers(gradient) and "deriv/ obj" not in headers(solve)
    assert "speed-up vs numpy" in headers(solve) and "dtype" not in headers(solve)
    text = rendered(frame)
    assert "3×" in text  # NumPy's 0.3 ms over jax+jit's 0.1 ms: a speed-up, never an inverse ratio
    assert max(len(line) for line in text.splitlines()) <= 80 and "…" not in text


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (
            ["--backend", "jaxx"],
            "unknown backend 'jaxx'; did you mean 'jax'? choose from numpy, jax, torch, tensorflow",
        ),
        (["--problem", "logistic"], "unknown problem 'logistic'; did you mean 'logistic_regression'? choose from"),
        (["--kind", "gradiant"], "unknown kind 'gradiant'; did you mean 'gradient'? choose from objective, gradient"),
        (["--backend", "theano"], "unknown backend 'theano'; choose from numpy, jax"),  # nothing close: no guess
    ],
)
def test_an_unknown_filter_value_suggests_the_close_match(argv, says, capsys):
    from bench.__main__ import main

    assert main(["run", *argv, "--list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and says in err


@pytest.mark.parametrize("command", ["run", "check", "list", "report"])
def test_an_unknown_option_shows_its_commands_usage(command, capsys):
    from bench.__main__ import main

    with pytest.raises(SystemExit) as stop:
        main([command, "--bogus"])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert f" {command} [-h]" in err.splitlines()[0]  # the command's usage, not the top-level one
    assert f" {command}: error: unrecognized arguments: --bogus" in err


@pytest.mark.parametrize("command", ["run", "check", "gradbench"])
def test_the_mode_filter_has_one_name(command, capsys):
    from bench.__main__ import main, parser

    with pytest.raises(SystemExit) as stop:
        main([command, "--variant", "eager"])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert err.splitlines()[-1].endswith(f" {command}: error: unrecognized arguments: --variant eager")
    assert parser().parse_args([command, "--mode", "eager", "--mode", "jit"]).mode == ["eager", "jit"]


def test_an_empty_plan_names_the_filters_that_empty_it():
    from bench.cli import UsageError
    from bench.runner.config import RunConfig
    from bench.runner.plan import make_plan

    config = RunConfig(problem=("quadratic",), mode=("witness",), dtype=("float64",))  # no witness for quadratic
    with pytest.raises(UsageError) as error:
        make_plan(config, [])
    message = str(error.value)
    assert message.startswith("these filters leave no cell to run; ")
    assert re.search(r"; without --mode witness: \d+ cells", message)
    assert re.search(r"; without --problem quadratic: \d+ cells", message)
    assert "--dtype" not in message  # float64 alone empties nothing


@pytest.mark.slow
def test_list_says_when_an_installed_framework_fails_to_import(tmp_path, monkeypatch, capsys):
    import backends
    from bench import listing

    (tmp_path / "brokenframework.py").write_text("raise RuntimeError('this build needs a newer libc')\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # installed: find_spec sees it; importing it raises
    hand = (backends.Variant("hand", False, None, "the hand derivatives"),)
    broken = backends.BackendInfo("brokenfw", "tests.fault_env", "brokenframework", "", False, hand)
    monkeypatch.setattr(backends, "REGISTRY", {"numpy": backends.info("numpy"), "brokenfw": broken})
    assert listing.main(argparse.Namespace(problems=False, backends=True)) == 0
    out = capsys.readouterr().out
    assert "  numpy                installed\n" in out
    assert "brokenfw             installed, fails to import: RuntimeError: this build needs a newer libc" in out


README = (REPO / "README.md").read_text()


def bash_blocks(after: str) -> list[str]:
    """The lines of the first bash block after the heading ``after``, comments dropped."""
    block = README.split(after, 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def test_the_readmes_first_commands_start_in_a_virtual_environment():
    first = bash_blocks("## Two commands")
    assert first[0] == "python3 -m venv .venv && . .venv/bin/activate"
    assert first[1].startswith("pip install nox")


def test_every_mode_run_takes_is_in_the_readme_and_the_help():
    import backends
    from bench.__main__ import parser

    modes = {"eager", "compiled", "witness"} | {v.name for n in backends.NAMES for v in backends.info(n).variants}
    sentence = " ".join(README.split("`--mode` takes", 1)[1].split(".", 1)[0].split())
    run_help = " ".join(parser()._subparsers._group_actions[0].choices["run"].format_help().split())  # type: ignore[union-attr]
    mode_help = run_help.split("[--mode MODE]", 1)[1].split("--mode MODE", 1)[1].split("--kind", 1)[0]
    for mode in modes:
        assert f"`{mode}`" in sentence, mode
        assert re.search(rf"\b{mode}\b", mode_help), mode


def test_the_by_hand_recipe_checks_into_the_run_folder_with_the_runs_filters():
    import shlex

    lines = bash_blocks("## Running the pieces by hand")
    (at,) = [i for i, line in enumerate(lines) if line.startswith("python -m bench check") and "--json" in line]
    check, run = shlex.split(lines[at]), shlex.split(lines[at + 1])
    assert run[:3] == ["python", "-m", "bench"] and run[3] == "run"
    folder = run[run.index("--out") + 1]
    assert check[check.index("--json") + 1] == f"{folder}/agreement.json"  # where the report reads it
    filters = ("--problem", "--dtype", "--mode", "--kind")  # what check takes of a run's filters
    pairs = lambda argv: {(a, b) for a, b in zip(argv, argv[1:]) if a in filters}  # noqa: E731
    assert pairs(check) == pairs(run)
    assert f"mkdir -p {folder}" in lines[:at]  # check writes into an existing folder only


def test_report_says_what_it_draws_before_drawing(tmp_path, monkeypatch, capsys):
    import bench.report
    from bench.__main__ import main

    drawn = []
    monkeypatch.setattr(bench.report, "write_report", lambda paths, **_: drawn.append(paths) or tmp_path)
    assert main(["report", str(REFERENCE), "--only", "times"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"report: drawing 1 chart group and the pages for {REFERENCE} ..."
    assert drawn == [[REFERENCE]] and out[1].startswith("report written: ")


def test_the_summary_names_the_rows_no_check_covers_and_the_command_that_checks_them(tmp_path):
    import shlex

    from bench import agreement_file
    from bench.agreement_file import AgreementRow
    from bench.runner.summary import unchecked_line

    frame = summary_frame()  # logistic_regression, three rows in three kinds, float64
    line = unchecked_line(frame, tmp_path)
    assert line is not None and line.startswith("unchecked: 9 of 9 timed rows (no agreement.json); check them: ")
    command = shlex.split(line.split("check them: ", 1)[1])
    assert command[:6] == ["python", "-m", "bench", "check", "--json", str(tmp_path / "agreement.json")]
    options = dict(zip(command[6::2], command[7::2]))
    assert options["--problem"] == "logistic_regression" and options["--dtype"] == "float64"
    assert set(options["--backend"].split(",")) == {"numpy", "jax", "tensorflow"}
    assert set(options["--kind"].split(",")) == {"objective", "gradient", "solve"}

    rows = [
        AgreementRow(r["problem"], r["backend"], r["kind"], True, r["mode"], r["variant"], r["label"], dtype=r["dtype"])
        for r in frame.to_dict("records")
    ]
    agreement_file.write(tmp_path / "agreement.json", rows[1:])
    assert unchecked_line(frame, tmp_path).startswith("unchecked: 1 of 9 timed rows (agreement.json has no check")
    agreement_file.write(tmp_path / "agreement.json", rows)
    assert unchecked_line(frame, tmp_path) is None  # every timed row checked: nothing said


def test_the_unchecked_line_follows_the_summary_whole(tmp_path):
    from bench.runner.summary import print_summary

    out = io.StringIO()
    print_summary(summary_frame(), Console(file=out, width=80), [], tmp_path)
    last = out.getvalue().splitlines()[-1]
    assert last.startswith("unchecked: 9 of 9") and last.endswith("--kind objective,gradient,solve")


def test_the_summary_says_where_the_cells_time_went():
    """First calls (tracing, compilation), building data and timing, apart: what a user needs to see why a run
    took longer than its timing budget."""
    frame = summary_frame()
    # nine rows: each 100 s in all, of which 40 s the first call and 2 s building its data
    frame = frame.assign(cell_time=100.0, first_call=40.0, build_time=2.0)
    text = rendered(frame)
    expected = (
        "time in cells: 15 min 0 s (first calls, tracing and compilation included: 6 min 0 s; "
        "building data: 18 s; timing, calibration included: 8 min 42 s)"
    )
    assert expected in " ".join(text.split())
    assert "time in cells" not in rendered(summary_frame())  # records without the columns: nothing said
