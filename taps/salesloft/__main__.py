"""``python -m taps.salesloft`` and the ``tap-salesloft`` command: run tap-salesloft."""

from taps.common.entry import run_tap_cli


def main() -> None:
    """Run tap-salesloft's command line, its imports with the garbage collector paused (``taps.common.entry``)."""
    run_tap_cli("taps.salesloft.tap:TapSalesloft")


if __name__ == "__main__":
    main()
