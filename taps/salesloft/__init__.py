"""tap-salesloft: Salesloft conversations, transcriptions and sentences (GET /v2/...)."""
