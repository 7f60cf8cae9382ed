"""``python -m bench {list,check,run,report,gradbench}``: the harness's command line."""

from __future__ import annotations

import argparse
import importlib
import sys

from .cli import UsageError, fail

#: subcommand -> module with ``HELP``, ``add_arguments(parser)`` and ``main(args)``
COMMANDS = {
    "list": "bench.listing",
    "check": "bench.check",
    "run": "bench.runner.command",
    "report": "bench.report",
    "gradbench": "bench.gradbench",
}
#: exit status when a file cannot be written (a full disk, a read-only folder)
EXIT_WRITE = 4


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m bench",
        description="Autodiff benchmark harness: check derivatives, time them, report.",
    )
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(
            name, help=module.HELP, description=module.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        module.add_arguments(p)
        p.set_defaults(func=module.main)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except OSError as exc:  # a write that failed: name the file and the cause, no traceback
        where = f": {exc.filename}" if exc.filename else ""
        return fail(f"{exc.strerror or exc}{where}", EXIT_WRITE)


if __name__ == "__main__":
    sys.exit(main())
