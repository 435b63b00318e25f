"""tap-knovvu: Sestek Knovvu daily conversation audio recordings (manifests, hourly ZIPs, sessions, files)."""
