"""``conversation-archive``: dispatch to one operator command.

Each command lives in its own module of this package and exposes
``main(argv: list[str]) -> int``; it is imported only when asked for, so
``conversation-archive status`` does not pay for the vCon exporter's imports.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "status": ("conversation_archive.status", "per source: last run, bookmark, coverage, gaps, retention deadline"),
    "export-vcon": ("conversation_archive.vcon", "write one vCon JSON file per archived conversation"),
}


def main(argv: list[str] | None = None) -> int:
    """Run ``conversation-archive <command> [args]``; returns the command's exit code (2 on usage errors)."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in {"-h", "--help"} or args[0] not in COMMANDS:
        lines = ["usage: conversation-archive <command> [options]", "", "commands:"]
        lines += [f"  {name:<12} {about}" for name, (_, about) in COMMANDS.items()]
        print("\n".join(lines), file=sys.stderr if args and args[0] not in {"-h", "--help"} else sys.stdout)
        return 0 if args and args[0] in {"-h", "--help"} else 2
    module = importlib.import_module(COMMANDS[args[0]][0])
    return int(module.main(args[1:]))
