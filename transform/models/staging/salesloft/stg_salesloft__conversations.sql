-- Salesloft: a conversation is a `/v2/conversations` record; a transcription, sentence or
-- transcript file naming a conversation the listing did not return still gets one (with unknown
-- title and times), so no sentence or file is left without its conversation.
with conversations as (
    {{ dedupe("select * from " ~ source('salesloft', 'conversations'), "id", "updated_at desc") }}
),

referenced as (
    select distinct conversation_id from {{ ref('stg_salesloft__sentences') }} where conversation_id is not null
    union
    select distinct {{ json_text('conversation', 'id') }} from {{ source('salesloft', 'transcriptions') }}
    where {{ json_text('conversation', 'id') }} is not null
    union
    select distinct conversation_id from {{ ref('stg_salesloft__artifacts') }} where conversation_id is not null
),

ids as (
    select id as conversation_id from conversations
    union
    select conversation_id from referenced
)

select
    'salesloft:' || i.conversation_id as conversation_key,
    'salesloft' as source,
    i.conversation_id as source_conversation_id,
    c.title,
    c.platform as channel,
    coalesce(
        {{ utc_column('c.event_start_date') }},
        case when c.started_recording_at > 0 then {{ epoch_ms_to_utc('c.started_recording_at') }} end
    ) as started_at,
    coalesce(
        {{ utc_column('c.event_end_date') }},
        case when c.started_recording_at > 0 and c.duration is not null
             then {{ epoch_ms_to_utc('c.started_recording_at + c.duration') }} end
    ) as ended_at
from ids as i
left join conversations as c on c.id = i.conversation_id
