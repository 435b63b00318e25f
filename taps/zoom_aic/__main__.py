"""``python -m taps.zoom_aic``: run the tap."""

from taps.zoom_aic.tap import TapZoomAIC

TapZoomAIC.cli()
