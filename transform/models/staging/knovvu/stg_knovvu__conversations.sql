-- Knovvu: a conversation is an `externalConversationId` (else its session id); audio only.
with files as (
    select
        coalesce({{ raw_col('externalConversationId') }}, {{ raw_col('sessionId') }}) as conversation_id,
        {{ utc_column(raw_col('timestamp')) }} as file_time
    from {{ ref('stg_knovvu__recording_files') }}
)

select
    'knovvu:' || conversation_id as conversation_key,
    'knovvu' as source,
    conversation_id as source_conversation_id,
    cast(null as varchar) as title,
    'voice' as channel,
    min(file_time) as started_at,
    max(file_time) as ended_at
from files
group by conversation_id
