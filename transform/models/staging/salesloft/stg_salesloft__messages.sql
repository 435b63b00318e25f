-- Salesloft: every transcription sentence is a message, spoken by its recording attendee,
-- at the recording's start plus the sentence's `start_time` (seconds).
with sentences as (
    select * from {{ ref('stg_salesloft__sentences') }} where conversation_id is not null
),

conversations as (
    select source_conversation_id, started_at from {{ ref('stg_salesloft__conversations') }}
)

select
    'salesloft:' || s.conversation_id || ':' || s.transcription_id || ':' || cast(s.order_number as varchar) as message_key,
    'salesloft:' || s.conversation_id as conversation_key,
    case when s.recording_attendee_id is not null
         then 'salesloft:' || s.conversation_id || ':attendee:' || s.recording_attendee_id end as party_key,
    'participant' as role,
    cast(row_number() over (
        partition by s.conversation_id order by s.transcription_id, s.order_number
    ) - 1 as integer) as sequence,
    case when s.start_time is not null then {{ add_seconds('c.started_at', 's.start_time') }} end as sent_at,
    s.text,
    s.transcription_id || ':' || cast(s.order_number as varchar) as source_message_id
from sentences as s
left join conversations as c on c.source_conversation_id = s.conversation_id
