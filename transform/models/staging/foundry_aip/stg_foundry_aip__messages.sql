-- Foundry: each exchange gives a user message (`userInput.text`) and an ai_assistant message
-- (`result.agentMarkdownResponse`), in exchange order. Exchanges carry no time of their own.
with exchanges as (
    {{ dedupe("select * from " ~ source('foundry_aip', 'session_exchanges'),
              "session_rid, exchange_index", "session_updated_time desc") }}
),

turns as (
    select session_rid, exchange_index, 0 as turn, 'user' as speaker,
           {{ json_text(raw_col('userInput'), 'text') }} as text
    from exchanges
    union all
    select session_rid, exchange_index, 1 as turn, 'agent' as speaker,
           {{ json_text('result', 'agentMarkdownResponse') }} as text
    from exchanges
)

select
    'foundry_aip:' || session_rid || ':' || cast(exchange_index as varchar) || ':' || speaker as message_key,
    'foundry_aip:' || session_rid as conversation_key,
    'foundry_aip:' || session_rid || ':' || speaker as party_key,
    case when speaker = 'user' then 'user' else 'ai_assistant' end as role,
    cast(row_number() over (partition by session_rid order by exchange_index, turn) - 1 as integer) as sequence,
    cast(null as timestamp) as sent_at,
    text,
    session_rid || ':' || cast(exchange_index as varchar) || ':' || speaker as source_message_id
from turns
where text is not null
