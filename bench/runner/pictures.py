"""``python -m bench.runner.pictures --backend NAME --out RUN_DIR``: the article's pictures by one backend.

The run command starts this program once per backend (through :mod:`.launch`,
with the run's thread setting); it computes every picture with
:func:`bench.article.collect` and writes ``RUN_DIR/article-NAME.json``
(:func:`bench.article.write`: a temporary file, then a rename). A picture that
fails is left out with a note, printed here on stderr.
"""

from __future__ import annotations

import argparse
import sys

import backends

from .. import article
from ..cli import fail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.runner.pictures",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--backend", required=True, help=f"one of {', '.join(backends.NAMES)}")
    parser.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder to write article-NAME.json into")
    parser.add_argument("--dtype", default="float64", choices=backends.DTYPES)
    parser.add_argument("--device", default="cpu", choices=("cpu", "gpu"))
    args = parser.parse_args(argv)
    if args.backend not in backends.NAMES:
        return fail(f"unknown backend {args.backend!r}; choose from {', '.join(backends.NAMES)}")
    try:
        doc = article.collect(args.backend, args.dtype, args.device)
    except (backends.BackendUnavailable, backends.DeviceUnavailable) as exc:
        return fail(str(exc))
    path = article.write(args.out, doc)
    for note in doc["notes"]:
        print(f"note: {note}", file=sys.stderr)
    print(f"wrote {path} ({', '.join(doc['pictures']) or 'no pictures'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
