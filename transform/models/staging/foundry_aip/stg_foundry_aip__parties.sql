-- Foundry: the user who holds the session (Foundry names no user in a session) and the
-- AIP Agent (role ai_assistant, its agent RID as source party id).
with sessions as (
    select distinct session_rid, agent_rid from {{ source('foundry_aip', 'session_exchanges') }}
    union
    select distinct rid, agent_rid from {{ source('foundry_aip', 'sessions') }}
),

one_per_session as (
    select session_rid, max(agent_rid) as agent_rid from sessions group by session_rid
)

select
    'foundry_aip:' || session_rid || ':user' as party_key,
    'foundry_aip:' || session_rid as conversation_key,
    'user' as role,
    cast(null as varchar) as name,
    cast(null as varchar) as email,
    cast(null as varchar) as source_party_id
from one_per_session

union all

select
    'foundry_aip:' || session_rid || ':agent' as party_key,
    'foundry_aip:' || session_rid as conversation_key,
    'ai_assistant' as role,
    'AIP Agent' as name,
    cast(null as varchar) as email,
    agent_rid as source_party_id
from one_per_session
