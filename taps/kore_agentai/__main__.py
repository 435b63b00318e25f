"""``python -m taps.kore_agentai``: run the tap's CLI."""

from taps.kore_agentai.tap import TapKoreAgentAI

TapKoreAgentAI.cli()
