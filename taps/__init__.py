"""Singer taps for conversation archives, plus the shared layer they stand on.

One package per vendor (``taps.salesloft`` and, as they land, the others) and
``taps.common`` for what more than one tap needs: the REST stream base,
authenticators, date windows, file storage, schema loading and the sandbox
server base.
"""
