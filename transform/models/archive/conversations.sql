-- One row per conversation, all vendors, with its counts and its vCon uuid.
with conversations as (
    {{ union_staging('conversations', ['conversation_key', 'source', 'source_conversation_id', 'title', 'channel',
                                       'started_at', 'ended_at']) }}
),

party_counts as (
    select conversation_key, count(*) as n from {{ ref('parties') }} group by conversation_key
),

message_counts as (
    select conversation_key, count(*) as n from {{ ref('messages') }} group by conversation_key
),

media_counts as (
    select conversation_key, count(*) as n from {{ ref('media_files') }} group by conversation_key
)

select
    c.conversation_key,
    c.source,
    c.source_conversation_id,
    c.title,
    c.channel,
    c.started_at,
    c.ended_at,
    cast(coalesce(p.n, 0) as integer) as party_count,
    cast(coalesce(m.n, 0) as integer) as message_count,
    cast(coalesce(f.n, 0) as integer) as media_count,
    {{ vcon_uuid('c.conversation_key') }} as vcon_uuid
from conversations as c
left join party_counts as p on p.conversation_key = c.conversation_key
left join message_counts as m on m.conversation_key = c.conversation_key
left join media_counts as f on f.conversation_key = c.conversation_key
