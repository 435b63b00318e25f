"""``python -m taps.salesloft``: run tap-salesloft."""

from taps.salesloft.tap import TapSalesloft

TapSalesloft.cli()
