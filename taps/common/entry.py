"""A tap's process entry point: ``python -m taps.<tap>`` and the ``tap-<vendor>`` commands.

``run_tap_cli("taps.salesloft.tap:TapSalesloft")`` imports the tap with the
garbage collector paused, then runs its singer-sdk command line.

Why: importing a tap builds about 50,000 objects that live until the process
exits (singer-sdk's modules, mostly: fsspec, jsonschema, joblib, requests ...)
and very little garbage, yet the collector runs about a hundred passes over
them while they are being built, one of them a full one: about 0.04 s of a
0.3 s start. The collector is back on before the command runs, and
``VendorTap.invoke`` then moves that heap out of its way for good
(``taps.common.cli.freeze_startup_heap``). The pattern is the one the ``gc``
documentation gives for ``gc.freeze``: collector off early, heap frozen, collector on.

This module imports only the standard library, so nothing is built before the pause.
"""

from __future__ import annotations

import gc
import importlib


def run_tap_cli(target: str) -> None:
    """Import the tap class ``target`` (``"module:Class"``) with the collector paused, then run ``Class.cli()``.

    The collector is resumed after the import whether it succeeded or not (unless it was off already).
    """
    module_name, _, class_name = target.partition(":")
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        tap_class = getattr(importlib.import_module(module_name), class_name)
    finally:
        if was_enabled:
            gc.enable()
    tap_class.cli()
