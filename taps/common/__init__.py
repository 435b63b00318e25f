"""The shared layer every tap stands on (see shared/GUIDE.md §1).

Modules:
    client   -- ``VendorRESTStream``: timeouts, retries, Retry-After, redacted vendor errors.
    auth     -- bearer, OAuth2 client-credentials and HS256 JWT authenticators.
    retry    -- ``Retry-After`` parsing and exponential waits.
    redact   -- keep secrets and presigned-URL signatures out of logs, records and errors.
    schemas  -- load ``schemas/<tap>/<stream>.json``.
    settings -- the config-schema vocabulary shared by the taps.
    windows  -- split a date range into spans of at most N days.
    storage  -- write byte streams to a folder or fsspec URL with sha256 and size.
"""
