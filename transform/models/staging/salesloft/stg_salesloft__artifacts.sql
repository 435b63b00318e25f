-- Salesloft: one row per stored transcript file (`transcription_artifacts`, key
-- transcription_id; the latest download of a re-read transcription wins), with the
-- conversation it belongs to (the artifact's own `conversation.id`, else its transcription's).
-- No rows when the raw table does not exist (the tap ran without storage_url).
{% if source_exists('salesloft', 'transcription_artifacts') %}
with artifacts as (
    {{ dedupe("select * from " ~ source('salesloft', 'transcription_artifacts') ~ " where storage_uri is not null",
              "transcription_id", "downloaded_at desc, storage_uri") }}
),

transcriptions as (
    {{ dedupe("select * from " ~ source('salesloft', 'transcriptions'), "id", "updated_at desc") }}
)

select
    a.transcription_id,
    coalesce({{ json_text('a.conversation', 'id') }}, {{ json_text('t.conversation', 'id') }}) as conversation_id,
    a.content_type,
    a.storage_uri,
    a.sha256,
    cast(a.size_bytes as bigint) as size_bytes,
    {{ utc_column('a.created_at') }} as created_at
from artifacts as a
left join transcriptions as t on t.id = a.transcription_id
{% else %}
select
    cast(null as varchar) as transcription_id,
    cast(null as varchar) as conversation_id,
    cast(null as varchar) as content_type,
    cast(null as varchar) as storage_uri,
    cast(null as varchar) as sha256,
    cast(null as bigint) as size_bytes,
    cast(null as timestamp) as created_at
where 1 = 0
{% endif %}
