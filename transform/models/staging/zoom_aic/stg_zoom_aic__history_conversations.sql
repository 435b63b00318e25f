-- One row per (history file, conversation inside it): Zoom's AI Companion history file
-- (conversation_histories.content, parsed by the tap) holds `conversations[]`, each with
-- `conversation_id` and `messages[]`. A conversation on a window boundary can appear in two
-- files; `copy_rank` = 1 marks the copy the archive reads (the latest window, then download).
with histories as (
    select
        user_id,
        storage_uri,
        sha256,
        size_bytes,
        {{ utc_column('window_from') }} as window_from,
        {{ utc_column('window_to') }} as window_to,
        {{ utc_column('downloaded_at') }} as downloaded_at,
        {{ json_value('content', 'conversations') }} as conversations
    from {{ source('zoom_aic', 'conversation_histories') }}
),

conversations as (
    select
        h.user_id,
        h.storage_uri,
        h.sha256,
        h.size_bytes,
        h.window_from,
        h.window_to,
        h.downloaded_at,
        {{ json_element('h.conversations', 'i.idx') }} as conversation
    from histories as h
    {{ index_rows(json_length('h.conversations'), 'i') }}
)

select
    user_id,
    {{ json_text('conversation', 'conversation_id') }} as conversation_id,
    {{ json_value('conversation', 'messages') }} as messages,
    storage_uri,
    sha256,
    size_bytes,
    window_from,
    window_to,
    row_number() over (
        partition by user_id, {{ json_text('conversation', 'conversation_id') }}
        order by window_to desc, downloaded_at desc, storage_uri
    ) as copy_rank
from conversations
