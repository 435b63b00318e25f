"""Local emulators of the five vendor APIs, for the demo and the tests.

Not part of the taps' wheel: users install the taps, developers run these from
the repository (``python -m sandboxes``). ``base`` is the shared HTTP server and
routes, ``faults`` the fault kinds it injects, ``clock`` the movable clock; each
other module emulates one vendor's contract.
"""
