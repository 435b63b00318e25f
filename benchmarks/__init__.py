"""Performance benchmarks (not tests): each module is one command printing a ratio.

Run from the repository root with the project's virtual environment, e.g.
``.venv/bin/python -m benchmarks.fanout``. See the README section "Performance".
"""
