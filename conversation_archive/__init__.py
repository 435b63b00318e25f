"""Operator tools over the archive the taps fill: ``conversation-archive <command>``.

Commands (each in its own module, with a ``main(argv) -> int``):
    status       -- per source: last run, bookmark, coverage, gaps, retention deadlines.
    export-vcon  -- one IETF vCon file per conversation of the unified ``archive`` schema.
"""
