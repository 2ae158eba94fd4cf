"""The command line: argparse and exit codes (cli), and one module or package per command."""
