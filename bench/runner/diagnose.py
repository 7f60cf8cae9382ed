"""``python -m bench diagnose overhead|tax|duel``: what the harness itself costs, and a close call, measured.

* ``overhead RUN_DIR``: a run's smallest medians against a bare ``timeit`` of the
  same call (:mod:`.overhead`);
* ``tax``: every protocol row of the headline cells against the expert's witness,
  timed round-robin on a quiet machine (:mod:`.tax_probe`);
* ``duel``: rows of different frameworks timed in the same interleaved rounds, one server
  process per framework, to settle a "who wins" call that a run's medians, timed apart,
  leave a tie (:mod:`.duel`).

None is part of a run or of the test suite; each times real calls.
"""

from __future__ import annotations

import argparse

from . import duel, overhead, tax_probe

HELP = "what the harness itself costs (overhead, tax), and a close call between frameworks settled (duel)"
#: diagnosis -> module with ``HELP``, ``add_arguments(parser)`` and ``main(args)``
DIAGNOSES = {"overhead": overhead, "tax": tax_probe, "duel": duel}


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="diagnosis", metavar="DIAGNOSIS", required=True)
    for name, module in DIAGNOSES.items():
        q = sub.add_parser(
            name, help=module.HELP, description=module.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        module.add_arguments(q)


def main(args: argparse.Namespace) -> int:
    return int(DIAGNOSES[args.diagnosis].main(args) or 0)
