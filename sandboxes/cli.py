"""``python -m sandboxes``: start every vendor emulator on 127.0.0.1.

Prints each sandbox's URL and a ready-to-use tap config, then serves until
interrupted (Ctrl-C or SIGTERM). Ports are fixed by default so Meltano's
``dev`` environment can point at them; ``--port-base 0`` picks free ports.

``SANDBOXES`` names each emulator: name -> (emulator class, default port).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import signal
import sys
import threading

from sandboxes.base import SandboxApp, SandboxServer
from sandboxes.clock import set_default_offset
from sandboxes.foundry_aip import FoundryAIPSandbox
from sandboxes.knovvu import KnovvuSandbox
from sandboxes.kore_agentai import KoreAgentAISandbox
from sandboxes.salesloft import SalesloftSandbox
from sandboxes.zoom_aic import ZoomAICSandbox

SANDBOXES: dict[str, tuple[type[SandboxApp], int]] = {
    "salesloft": (SalesloftSandbox, 8801),
    "zoom_aic": (ZoomAICSandbox, 8802),
    "knovvu": (KnovvuSandbox, 8803),
    "foundry_aip": (FoundryAIPSandbox, 8804),
    "kore_agentai": (KoreAgentAISandbox, 8805),
}


def port_in_use_message(name: str, port: int) -> str:
    """What to do when ``port`` is taken: name the port, who holds it, and how to stop it."""
    return (f"sandbox {name} cannot listen on 127.0.0.1:{port}: the port is already in use, most likely by "
            f"another sandbox (`python -m sandboxes`, e.g. a demo still running in another terminal or "
            f"worktree). Find it with `ss -ltnp 'sport = :{port}'` (or `lsof -i :{port}`) and stop it with "
            f"`kill <pid>` or Ctrl-C in its terminal; or start these sandboxes on free ports with --port-base 0.")


def main(argv: list[str] | None = None) -> int:
    """Run the sandboxes until interrupted; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"sandboxes to start (default: all of {', '.join(SANDBOXES)})")
    parser.add_argument("--port-base", type=int, default=None,
                        help="0 to let the OS pick free ports; default: each sandbox's fixed port")
    parser.add_argument("--latency", type=float, default=0.0,
                        help="seconds added before every answer, as a remote vendor would (default 0)")
    parser.add_argument("--clock-offset", type=float, default=0.0,
                        help="seconds the sandboxes' clock runs ahead of this machine's (negative: behind; default 0)")
    parser.add_argument("--ready-file", help="write the URLs and configs as JSON here once serving")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in SANDBOXES]
    if unknown:
        parser.error(f"unknown sandbox(es): {', '.join(unknown)}")
    set_default_offset(args.clock_offset)
    servers = {}
    for name in args.names or list(SANDBOXES):
        app_class, port = SANDBOXES[name]
        app = app_class()
        app.latency_seconds = args.latency
        wanted = port if args.port_base is None else args.port_base
        try:
            servers[name] = SandboxServer(app, port=wanted).start()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            print(port_in_use_message(name, wanted), file=sys.stderr, flush=True)  # noqa: T201
            for server in servers.values():
                server.stop()
            return 1
    summary = {name: {"url": s.url, "config": s.app.demo_config(s.url)} for name, s in servers.items()}
    text = json.dumps(summary, indent=2)
    print(text, flush=True)  # noqa: T201
    if args.ready_file:
        with open(args.ready_file, "w", encoding="utf-8") as fh:
            fh.write(text)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    for server in servers.values():
        server.stop()
    return 0


