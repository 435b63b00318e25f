-- Kore.ai: one party per author type that wrote in the conversation: USER is the customer,
-- AGENT the human agent (named by the first summary's AGENT participant when there is one),
-- BOT a bot, anything else system.
with authors as (
    select distinct conversation_record_id, author_type
    from {{ ref('stg_kore_agentai__components') }}
    where author_type is not null
),

summary_agents as (
    select
        _id as record_id,
        {{ json_text(json_element('summaries', 0), 'participant.name') }} as name,
        {{ json_text(json_element('summaries', 0), 'participant.identity') }} as identity
    from {{ source('kore_agentai', 'conversations') }}
    where upper({{ json_text(json_element('summaries', 0), 'participant.type') }}) = 'AGENT'
)

select
    'kore_agentai:' || a.conversation_record_id || ':' || lower(a.author_type) as party_key,
    'kore_agentai:' || a.conversation_record_id as conversation_key,
    case a.author_type when 'USER' then 'customer' when 'AGENT' then 'agent' when 'BOT' then 'bot' else 'system' end as role,
    case when a.author_type = 'AGENT' then max(s.name) end as name,
    case when a.author_type = 'AGENT' and max(s.identity) like '%@%' then max(s.identity) end as email,
    case when a.author_type = 'AGENT' then max(s.identity) end as source_party_id
from authors as a
left join summary_agents as s on s.record_id = a.conversation_record_id
group by a.conversation_record_id, a.author_type
