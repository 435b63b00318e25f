-- Salesloft: the conversation's owner (the Salesloft user who recorded it, role agent) and
-- every recording attendee a sentence names. Salesloft does not say which side an attendee
-- is on, so attendees get role `participant`.
with conversations as (
    {{ dedupe("select * from " ~ source('salesloft', 'conversations'), "id", "updated_at desc") }}
),

attendees as (
    select distinct conversation_id, recording_attendee_id
    from {{ ref('stg_salesloft__sentences') }}
    where recording_attendee_id is not null and conversation_id is not null
)

select
    'salesloft:' || id || ':owner' as party_key,
    'salesloft:' || id as conversation_key,
    'agent' as role,
    cast(null as varchar) as name,
    cast(null as varchar) as email,
    coalesce(user_guid, owner_id) as source_party_id
from conversations
where coalesce(user_guid, owner_id) is not null

union all

select
    'salesloft:' || conversation_id || ':attendee:' || recording_attendee_id as party_key,
    'salesloft:' || conversation_id as conversation_key,
    'participant' as role,
    cast(null as varchar) as name,
    cast(null as varchar) as email,
    recording_attendee_id as source_party_id
from attendees
