"""``python -m taps.zoom_aic`` and the ``tap-zoom-aic`` command: run tap-zoom-aic."""

from taps.common.entry import run_tap_cli


def main() -> None:
    """Run tap-zoom-aic's command line, its imports with the garbage collector paused (``taps.common.entry``)."""
    run_tap_cli("taps.zoom_aic.tap:TapZoomAIC")


if __name__ == "__main__":
    main()
