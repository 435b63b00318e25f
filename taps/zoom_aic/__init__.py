"""tap-zoom-aic: Zoom AI Companion conversation archives, history files and attachments."""
