"""``python -m bench COMMAND``: the harness's one command line (every command in :data:`COMMANDS`)."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from pathlib import Path

from .cli import UsageError, fail, harness_version, load_plugins

#: subcommand -> module with ``HELP``, ``add_arguments(parser)`` and ``main(args)``
COMMANDS = {
    "list": "bench.listing",
    "check": "bench.check",
    "run": "bench.runner.command",
    "report": "bench.report",
    "gradbench": "bench.gradbench",
    "settle": "bench.settle",
    "selftest": "bench.selftest",
    "history": "bench.history",
    "versions": "bench.versions",
    "diagnose": "bench.runner.diagnose",
}
#: exit status when a file cannot be written (a full disk, a read-only folder)
EXIT_WRITE = 4


def parser() -> argparse.ArgumentParser:
    script = Path(sys.argv[0]).name
    top = argparse.ArgumentParser(
        prog="python -m bench" if script in ("__main__.py", "") else script,
        description="Autodiff benchmark harness: check derivatives, time them, report.",
    )
    top.add_argument("--version", action="version", version=f"%(prog)s {harness_version()}")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(
            name, help=module.HELP, description=module.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        module.add_arguments(p)
        p.set_defaults(func=module.main, command_parser=p)  # an unknown option shows this command's usage
    return top


def main(argv: list[str] | None = None) -> int:
    args, unknown = parser().parse_known_args(argv)
    if unknown:
        args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        load_plugins()  # every command knows the backends and problems BENCH_PLUGINS registers
        return int(args.func(args) or 0)
    except UsageError as exc:
        return fail(str(exc))
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP turned into one by the run command
        signum = getattr(exc, "signum", signal.SIGINT)
        what = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
        return fail(what, 128 + int(signum))
    except OSError as exc:  # a write that failed: name the file and the cause, no traceback
        where = f": {exc.filename}" if exc.filename else ""
        return fail(f"{exc.strerror or exc}{where}", EXIT_WRITE)


if __name__ == "__main__":
    sys.exit(main())
