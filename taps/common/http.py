"""A ``requests`` session that reads the proxy environment once, not per request.

With ``trust_env`` on (the default), ``requests`` looks up ``HTTP(S)_PROXY``,
``NO_PROXY`` and netrc on every request (about 12% of a tap run against a
local server). ``lean_session(url)`` resolves them once for the vendor's host
and turns the per-request lookup off; ``REQUESTS_CA_BUNDLE`` /
``CURL_CA_BUNDLE``, when set, become the session's CA bundle.
"""

from __future__ import annotations

import os

import requests
from requests.utils import get_environ_proxies


def lean_session(url: str) -> requests.Session:
    """A session for requests to ``url``'s host: proxies from the environment, resolved once.

    Args:
        url: the vendor's base URL; ``NO_PROXY`` is applied to its host.

    Returns:
        A ``requests.Session`` with ``trust_env = False`` and ``proxies`` set.
    """
    session = requests.Session()
    session.proxies.update(get_environ_proxies(url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    session.trust_env = False
    return session
