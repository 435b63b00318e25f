"""The shared layer every tap stands on; see ARCHITECTURE.md for the layers.

Modules:
    tap        -- ``VendorTap``: one authenticator per process, config checks, the shared settings.
    client     -- ``VendorRESTStream``: timeouts, retries, Retry-After, redacted vendor errors.
    auth       -- ``TapAuthenticator``; bearer, OAuth2 client-credentials and HS256 JWT authenticators.
    retry      -- ``Retry-After`` parsing, exponential waits, ``RetryPolicy``.
    downloads  -- ``Download``: one streamed download path (retries, re-mint, size, sha256, progress).
    storage    -- ``FileStore``: byte streams to a folder or fsspec URL with sha256 and size.
    redact     -- keep secrets and presigned-URL signatures out of logs, records and errors.
    schemas    -- load ``schemas/<tap>/<stream>.json``.
    sdk_compat -- every use of a private singer-sdk name (STATE mid-stream, the bookmark hook, the tap).
    summary    -- the run summary every tap prints at the end.
    timestamps -- one ISO 8601 parser.
    windows    -- split a date range into spans of at most N days.
    entry      -- ``python -m taps.<tap>`` / ``tap-<vendor>``: imports with the collector paused, then the CLI.
"""
