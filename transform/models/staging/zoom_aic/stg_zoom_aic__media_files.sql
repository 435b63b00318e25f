-- Zoom: the history file(s) a conversation was read from (kind history_file; one file holds
-- every conversation of its window, so it is listed once per conversation it carries) and
-- the attachments its messages name (kind attachment, joined on the user's file_id).
with histories as (
    {{ dedupe(
        "select * from " ~ ref('stg_zoom_aic__history_conversations') ~ " where storage_uri is not null",
        "user_id, conversation_id, sha256", "copy_rank") }}
),

attachments as (
    {{ dedupe(
        "select * from " ~ source('zoom_aic', 'archive_attachments') ~ " where storage_uri is not null",
        "user_id, file_id", "downloaded_at desc, storage_uri") }}
),

referenced as (
    select
        m.user_id,
        m.conversation_id,
        min({{ iso_to_utc('m.sent_at_text') }}) as sent_at,
        {{ json_element_text('m.attachments', 'a.idx') }} as file_id
    from {{ ref('stg_zoom_aic__messages_raw') }} as m
    {{ index_rows(json_length('m.attachments'), 'a') }}
    group by m.user_id, m.conversation_id, {{ json_element_text('m.attachments', 'a.idx') }}
)

select
    'zoom_aic:' || h.user_id || ':' || h.conversation_id || ':history:' || h.sha256 as media_key,
    'zoom_aic:' || h.user_id || ':' || h.conversation_id as conversation_key,
    'history_file' as kind,
    'application/json' as mediatype,
    h.storage_uri,
    h.sha256,
    cast(h.size_bytes as bigint) as size_bytes,
    regexp_replace(h.storage_uri, '^.*/', '') as filename,
    cast(null as varchar) as party_key,
    h.window_from as started_at,
    h.user_id || ':' || cast(h.window_from as varchar) || '/' || cast(h.window_to as varchar) as source_file_id
from histories as h

union all

select
    'zoom_aic:' || r.user_id || ':' || r.conversation_id || ':attachment:' || r.file_id as media_key,
    'zoom_aic:' || r.user_id || ':' || r.conversation_id as conversation_key,
    'attachment' as kind,
    {{ mediatype_from_name('a.file_name') }} as mediatype,
    a.storage_uri,
    a.sha256,
    cast(a.size_bytes as bigint) as size_bytes,
    a.file_name as filename,
    'zoom_aic:' || r.user_id || ':' || r.conversation_id || ':user' as party_key,
    r.sent_at as started_at,
    r.file_id as source_file_id
from referenced as r
inner join attachments as a on a.user_id = r.user_id and a.file_id = r.file_id
