"""What can be measured: problems and their sizes, backends and their variants, the witnessed cells.

Imports no framework: backends are described from their registry entries.
"""

from __future__ import annotations

import backends
import problems

from .cells import WITNESS
from .fmt import terminal

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
        for name in backends.REGISTRY:  # the built-in ones, then those BENCH_PLUGINS registers
            info = backends.info(name)
            missing = f"not installed: the [{info.extra}] extra (README: Running the pieces by hand)"
            state = "installed" if backends.installed(name) else missing
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
        for problem, size, kind in witnesses.CELLS:
            print(f"  {problem} {size} {kind}")
    return 0
