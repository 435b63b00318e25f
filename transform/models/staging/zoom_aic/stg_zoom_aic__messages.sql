-- Zoom: every message in `messages[]`; role "user" is the user, anything else the AI Companion.
select
    'zoom_aic:' || user_id || ':' || conversation_id || ':' || cast(message_index as varchar) as message_key,
    'zoom_aic:' || user_id || ':' || conversation_id as conversation_key,
    'zoom_aic:' || user_id || ':' || conversation_id || (case when zoom_role = 'user' then ':user' else ':assistant' end) as party_key,
    case when zoom_role = 'user' then 'user' else 'ai_assistant' end as role,
    cast(message_index as integer) as sequence,
    {{ iso_to_utc('sent_at_text') }} as sent_at,
    content as text,
    conversation_id || ':' || cast(message_index as varchar) as source_message_id
from {{ ref('stg_zoom_aic__messages_raw') }}
