"""``python -m taps.knovvu`` and the ``tap-knovvu`` command: run tap-knovvu."""

from taps.common.entry import run_tap_cli


def main() -> None:
    """Run tap-knovvu's command line, its imports with the garbage collector paused (``taps.common.entry``)."""
    run_tap_cli("taps.knovvu.tap:TapKnovvu")


if __name__ == "__main__":
    main()
