-- Zoom: a conversation is one AI Companion conversation inside the history file; its
-- source id is `<user_id>:<conversation_id>` (Zoom documents no account-wide conversation id).
with conversations as (
    select * from {{ ref('stg_zoom_aic__history_conversations') }} where copy_rank = 1
),

times as (
    select
        user_id,
        conversation_id,
        min({{ iso_to_utc('sent_at_text') }}) as started_at,
        max({{ iso_to_utc('sent_at_text') }}) as ended_at
    from {{ ref('stg_zoom_aic__messages_raw') }}
    group by user_id, conversation_id
)

select
    'zoom_aic:' || c.user_id || ':' || c.conversation_id as conversation_key,
    'zoom_aic' as source,
    c.user_id || ':' || c.conversation_id as source_conversation_id,
    cast(null as varchar) as title,
    'ai_companion' as channel,
    t.started_at,
    t.ended_at
from conversations as c
left join times as t on t.user_id = c.user_id and t.conversation_id = c.conversation_id
