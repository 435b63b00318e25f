"""``python -m taps.knovvu``: run tap-knovvu."""

from taps.knovvu.tap import TapKnovvu

TapKnovvu.cli()
