"""A listing's next page requested while the current page's records are emitted.

singer-sdk's ``RESTStream.request_records`` is strictly serial: request a
page, emit its records, then request the next. For a keyset or token listing
the next request depends on the response only, so it can be on the wire while
the tap conforms, writes and bookmarks the current page (P2: the records of a
Salesloft page take about as long to emit as the next page takes to arrive).

``prefetched_records`` is that loop with one request ahead: the same requests
in the same order, the same records in the same order, the same errors at the
same point (records of a page are parsed before the next request is built, and
a failed request raises after every earlier record was yielded). The only
difference: when the consumer stops early (an exception downstream), one
request may already have been sent; the stream's bookmark never depends on it.
"""

from __future__ import annotations

import typing as t
from concurrent.futures import ThreadPoolExecutor

from singer_sdk.pagination import SinglePagePaginator

from taps.common.sdk_compat import prepare_page_request, send_request

if t.TYPE_CHECKING:
    from concurrent.futures import Future

    import requests
    from singer_sdk.helpers.types import Context
    from singer_sdk.streams import RESTStream


def prefetched_records(stream: RESTStream, context: Context | None) -> t.Iterator[dict[str, t.Any]]:
    """``stream.request_records(context)`` as singer-sdk does it, with the next page fetched ahead.

    Pages follow ``stream.get_new_paginator()``; each response goes through
    ``stream.parse_response`` (fully, before the next request is prepared,
    since ``get_url_params`` may reset what parsing reads) and ``paginator.advance``.
    An empty page ends the listing unless ``paginator.continue_if_empty`` says
    otherwise (singer-sdk's rule). The request counter and sync costs are
    updated per response, as singer-sdk does.
    """
    paginator = stream.get_new_paginator() or SinglePagePaginator()
    send = send_request(stream)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{stream.name}-page") as pool, \
            stream.get_http_request_counter() as request_counter:
        request_counter.with_context(context)
        prepared = prepare_page_request(stream, context, paginator)
        pending: Future[requests.Response] = pool.submit(send, prepared, context)
        while True:
            response = pending.result()
            request_counter.increment()
            stream.update_sync_costs(prepared, response, context)
            rows: list[dict[str, t.Any]] = []
            try:
                rows.extend(stream.parse_response(response))
            except Exception:
                yield from rows  # what the serial loop emitted before the error
                raise
            if not rows and not paginator.continue_if_empty(response):
                stream.log("Pagination stopped because no records were found in the last response")
                return
            paginator.advance(response)
            if not paginator.finished:
                prepared = prepare_page_request(stream, context, paginator)
                pending = pool.submit(send, prepared, context)
            yield from rows
            if paginator.finished:
                return
