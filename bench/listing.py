"""What can be measured: problems and their sizes, backends and their variants, the witnessed cells.

Imports no framework in its own process: backends are described from their registry entries, and
each installed framework is imported in a process of its own (all at once, each for at most
:data:`IMPORT_TIMEOUT` seconds), so that one installed but broken says why.
"""

from __future__ import annotations

import os
import subprocess
import sys

import backends
import problems

from .cells import WITNESS
from .fmt import terminal

#: seconds an installed framework is given to import in its own process
IMPORT_TIMEOUT = 120.0

HELP = "list problems (sizes, kinds), backends (variants, row labels) and the witnessed headline cells"


def add_arguments(p) -> None:
    p.add_argument("--problems", action="store_true", help="problems only")
    p.add_argument("--backends", action="store_true", help="backends only")


def main(args) -> int:
    both = not args.problems and not args.backends
    if args.problems or both:
        print("problems (sizes: name = main dimension; * = timed by default; check: the agreement check's size)")
        for problem in [problems.get(name) for name in problems.known()]:  # BENCH_PLUGINS' ones too
            sizes = ", ".join(
                f"{name}{'*' if name in problem.default_sizes else ''}={n:,}" for name, n in problem.sizes.items()
            )
            plugin = "" if problem.name in problems.BUILT_IN else f" [plugin: {type(problem).__module__}]"
            print(terminal(f"  {problem.name:<20} {problem.description}{plugin}"))
            print(f"  {'':<20} sizes: {sizes} (or any integer {problem.size_unit}); check: {problem.check_size}")
            print(f"  {'':<20} kinds: {', '.join(problem.kinds())}")
    if args.backends or both:
        print("backends (variant -> row label: what it runs)")
        failures = import_failures({backends.info(n).framework for n in backends.REGISTRY if backends.installed(n)})
        for name in backends.REGISTRY:  # the built-in ones, then those BENCH_PLUGINS registers
            info = backends.info(name)
            missing = f"not installed: the [{info.extra}] extra (README: Running the pieces by hand)"
            state = "installed" if backends.installed(name) else missing
            if info.framework in failures:
                state = f"installed, fails to import: {failures[info.framework]}"
            if name not in backends.NAMES:
                state += f" [plugin: {info.module}]"
            print(terminal(f"  {name:<20} {state}"))
            for v in info.variants:
                print(terminal(f"  {'':<20} {v.name:<9} -> {info.label(v.name):<21} {v.mode}: {v.doc}"))
            if info.has_autodiff:
                print(
                    f"  {'':<20} {WITNESS:<9} -> {name + '+' + WITNESS:<21} an expert's own code, headline cells only"
                )
        print(f"  {'article':<20} the seed article's own NumPy loops (solve only)")
    if both:
        import witnesses

        print("witnessed headline cells (the protocol tax: our best row over the expert's code)")
        for witnessed, size, kind in witnesses.CELLS:
            print(f"  {witnessed} {size} {kind}")
    return 0


def import_failures(frameworks, timeout: float = IMPORT_TIMEOUT) -> dict[str, str]:
    """``{framework: why}`` for each of ``frameworks`` that does not import in a fresh process (this
    one's import path): the last line of its error, or that it did not finish within ``timeout``."""
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    running = {
        name: subprocess.Popen(
            [sys.executable, "-c", f"import {name}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=environ,
        )
        for name in sorted(frameworks)
        if name.replace(".", "").replace("_", "").isalnum()
    }
    failures = {}
    for name, process in running.items():
        try:
            _, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            failures[name] = f"its import did not finish within {timeout:g} s"
            continue
        if process.returncode:
            lines = [line.strip() for line in err.splitlines() if line.strip()]
            failures[name] = (lines[-1] if lines else f"exit status {process.returncode}")[:300]
    return failures
