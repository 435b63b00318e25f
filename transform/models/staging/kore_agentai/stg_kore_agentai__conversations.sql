-- Kore.ai: a conversation is one conversation record (`_id`; `convId` is not unique).
with records as (
    {{ dedupe("select * from " ~ source('kore_agentai', 'conversations'), "_id", raw_col('startTime') ~ " desc") }}
),

ids as (
    select _id as record_id from records
    union
    select distinct conversation_record_id from {{ source('kore_agentai', 'conversation_messages') }}
),

ends as (
    select conversation_record_id, max({{ epoch_ms_to_utc(raw_col('timestampValue')) }}) as ended_at
    from {{ source('kore_agentai', 'conversation_messages') }}
    group by conversation_record_id
)

select
    'kore_agentai:' || i.record_id as conversation_key,
    'kore_agentai' as source,
    i.record_id as source_conversation_id,
    cast(null as varchar) as title,
    coalesce(r.{{ raw_col('channelType') }}, r.experience) as channel,
    {{ utc_column('r.' ~ raw_col('startTime')) }} as started_at,
    e.ended_at
from ids as i
left join records as r on r._id = i.record_id
left join ends as e on e.conversation_record_id = i.record_id
