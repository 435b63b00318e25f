-- Kore.ai: every message component with text is a message; the author type gives the role.
select
    'kore_agentai:' || conversation_record_id || ':' || cast(message_index as varchar) || ':' || cast(component_index as varchar) as message_key,
    'kore_agentai:' || conversation_record_id as conversation_key,
    case when author_type is not null then 'kore_agentai:' || conversation_record_id || ':' || lower(author_type) end as party_key,
    case author_type when 'USER' then 'customer' when 'AGENT' then 'agent' when 'BOT' then 'bot' else 'system' end as role,
    cast(row_number() over (
        partition by conversation_record_id order by message_index, component_index
    ) - 1 as integer) as sequence,
    case when timestamp_ms is not null then {{ epoch_ms_to_utc('timestamp_ms') }} end as sent_at,
    text,
    coalesce(component_id, conversation_record_id || ':' || cast(message_index as varchar) || ':' || cast(component_index as varchar)) as source_message_id
from {{ ref('stg_kore_agentai__components') }}
where text is not null
