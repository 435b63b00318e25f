-- Knovvu: every stored audio file is a recording of one speaker's turn.
select
    'knovvu:' || coalesce({{ raw_col('externalConversationId') }}, {{ raw_col('sessionId') }}) || ':'
        || {{ raw_col('sessionId') }} || ':' || cast({{ raw_col('messageId') }} as varchar) || ':' || type as media_key,
    'knovvu:' || coalesce({{ raw_col('externalConversationId') }}, {{ raw_col('sessionId') }}) as conversation_key,
    'recording' as kind,
    {{ mediatype_from_name(raw_col('fileName')) }} as mediatype,
    storage_uri,
    sha256,
    cast(size_bytes as bigint) as size_bytes,
    {{ raw_col('fileName') }} as filename,
    'knovvu:' || coalesce({{ raw_col('externalConversationId') }}, {{ raw_col('sessionId') }})
        || (case when type = 'user_audio' then ':customer' else ':bot' end) as party_key,
    {{ utc_column(raw_col('timestamp')) }} as started_at,
    {{ raw_col('sessionId') }} || ':' || cast({{ raw_col('messageId') }} as varchar) || ':' || type as source_file_id
from {{ ref('stg_knovvu__recording_files') }}
