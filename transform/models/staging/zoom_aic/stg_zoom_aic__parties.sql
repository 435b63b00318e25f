-- Zoom: two parties per conversation, the archived user and the AI Companion.
with conversations as (
    select conversation_key, split_part(source_conversation_id, ':', 1) as user_id
    from {{ ref('stg_zoom_aic__conversations') }}
)

select
    c.conversation_key || ':user' as party_key,
    c.conversation_key,
    'user' as role,
    u.display_name as name,
    u.email,
    c.user_id as source_party_id
from conversations as c
left join {{ ref('stg_zoom_aic__users') }} as u on u.user_id = c.user_id

union all

select
    c.conversation_key || ':assistant' as party_key,
    c.conversation_key,
    'ai_assistant' as role,
    'Zoom AI Companion' as name,
    cast(null as varchar) as email,
    cast(null as varchar) as source_party_id
from conversations as c
