"""tap-kore-agentai: Kore.ai Agent AI conversation records and their messages (see ``tap.py``)."""
