-- Foundry: a conversation is an AIP Agent session (its `rid`); sessions known only from their
-- exchanges still get a row.
with sessions as (
    {{ dedupe("select * from " ~ source('foundry_aip', 'sessions'), "rid", "updated_time desc") }}
),

ids as (
    select rid as session_rid from sessions
    union
    select distinct session_rid from {{ source('foundry_aip', 'session_exchanges') }}
)

select
    'foundry_aip:' || i.session_rid as conversation_key,
    'foundry_aip' as source,
    i.session_rid as source_conversation_id,
    {{ json_text('s.metadata', 'title') }} as title,
    'aip_agent' as channel,
    {{ iso_to_utc(json_text('s.metadata', 'createdTime')) }} as started_at,
    {{ iso_to_utc(json_text('s.metadata', 'updatedTime')) }} as ended_at
from ids as i
left join sessions as s on s.rid = i.session_rid
