"""The conformance kit: one set of zero-loss checks run over all five taps against their sandboxes."""
