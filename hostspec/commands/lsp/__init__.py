"""`hostspec lsp`: a Language Server Protocol server on standard input and output.

It needs the `lsp` extra (`pip install 'hostspec[lsp]'`: pygls and
lsprotocol), imported only when this command runs.
"""
from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stdio", action="store_true",
                        help="talk over standard input and output (the default and only transport)")


EXIT_OK, EXIT_USAGE = 0, 2  # as the CLI's


def run(args) -> int:
    try:
        from .server import build
    except ImportError as exc:
        print(f"hostspec lsp: {exc.name or 'pygls'} is not installed; "
              "install the extra: pip install 'hostspec[lsp]'", file=sys.stderr)
        return EXIT_USAGE
    build(args.include_path).start_io()
    return EXIT_OK
