"""``python -m taps.foundry_aip`` and the ``tap-foundry-aip`` command: run tap-foundry-aip."""

from taps.common.entry import run_tap_cli


def main() -> None:
    """Run tap-foundry-aip's command line, its imports with the garbage collector paused (``taps.common.entry``)."""
    run_tap_cli("taps.foundry_aip.tap:TapFoundryAIP")


if __name__ == "__main__":
    main()
