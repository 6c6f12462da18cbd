"""The ``fastcheck`` command line: ``fastcheck demo``.

Exit status: 0 when every check it ran passed or the command succeeded, 1 when
a check failed, 2 for bad usage (with a one-line message, no traceback).
"""

import argparse
import sys

from .errors import FastcheckError


def _demo(args):
    from . import demo
    demo.run()
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fastcheck", description="JIT-accelerated gradient checking.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="run the seed exercise's gradient checks")
    demo.set_defaults(run=_demo)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except FastcheckError as exc:
        print(f"fastcheck: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
