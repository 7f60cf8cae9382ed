"""``python -m bench.gradbench``: the GradBench tool without the ``bench`` command in front."""

from __future__ import annotations

import argparse
import sys

from ..cli import UsageError, fail
from . import __doc__ as DOC
from . import add_arguments, main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m bench.gradbench", description=DOC, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    try:
        sys.exit(main(parser.parse_args()))
    except UsageError as exc:
        sys.exit(fail(str(exc)))
