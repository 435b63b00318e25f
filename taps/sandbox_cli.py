"""``conversation-sandbox``: start every vendor emulator on 127.0.0.1.

Prints each sandbox's URL and a ready-to-use tap config, then serves until
interrupted (Ctrl-C or SIGTERM). Ports are fixed by default so Meltano's
``dev`` environment can point at them; ``--port-base 0`` picks free ports.

Each tap registers its emulator in ``SANDBOXES``: name -> (import path,
default port).
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
import threading
import typing as t

from taps.common.sandbox import SandboxServer

SANDBOXES: dict[str, tuple[str, int]] = {
    "salesloft": ("taps.salesloft.sandbox:SalesloftSandbox", 8801),
    "kore_agentai": ("taps.kore_agentai.sandbox:KoreAgentAISandbox", 8805),
    "knovvu": ("taps.knovvu.sandbox:KnovvuSandbox", 8803),
    "foundry_aip": ("taps.foundry_aip.sandbox:FoundryAIPSandbox", 8804),
    "zoom_aic": ("taps.zoom_aic.sandbox:ZoomAICSandbox", 8802),
}


def load_app(path: str) -> t.Any:
    """Instantiate the emulator class named ``module:Class``."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)()


def main(argv: list[str] | None = None) -> int:
    """Run the sandboxes until interrupted; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"sandboxes to start (default: all of {', '.join(SANDBOXES)})")
    parser.add_argument("--port-base", type=int, default=None,
                        help="0 to let the OS pick free ports; default: each sandbox's fixed port")
    parser.add_argument("--ready-file", help="write the URLs and configs as JSON here once serving")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in SANDBOXES]
    if unknown:
        parser.error(f"unknown sandbox(es): {', '.join(unknown)}")
    servers = {}
    for name in args.names or list(SANDBOXES):
        path, port = SANDBOXES[name]
        app = load_app(path)
        servers[name] = SandboxServer(app, port=port if args.port_base is None else args.port_base).start()
    summary = {name: {"url": s.url, "config": s.app.demo_config(s.url)} for name, s in servers.items()}
    text = json.dumps(summary, indent=2)
    print(text, flush=True)  # noqa: T201
    if args.ready_file:
        with open(args.ready_file, "w", encoding="utf-8") as fh:
            fh.write(text)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    for server in servers.values():
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
