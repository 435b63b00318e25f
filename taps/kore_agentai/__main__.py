"""``python -m taps.kore_agentai`` and the ``tap-kore-agentai`` command: run tap-kore-agentai."""

from taps.common.entry import run_tap_cli


def main() -> None:
    """Run tap-kore-agentai's command line, its imports with the garbage collector paused (``taps.common.entry``)."""
    run_tap_cli("taps.kore_agentai.tap:TapKoreAgentAI")


if __name__ == "__main__":
    main()
