"""``python -m taps.foundry_aip``: run tap-foundry-aip."""

from taps.foundry_aip.tap import TapFoundryAIP

TapFoundryAIP.cli()
