-- Knovvu: the caller (files of type user_audio, role customer) and the virtual agent
-- (agent_tts and any other type, role bot), each only where it has audio.
with speakers as (
    select distinct
        coalesce({{ raw_col('externalConversationId') }}, {{ raw_col('sessionId') }}) as conversation_id,
        case when type = 'user_audio' then 'customer' else 'bot' end as role
    from {{ ref('stg_knovvu__recording_files') }}
)

select
    'knovvu:' || conversation_id || ':' || role as party_key,
    'knovvu:' || conversation_id as conversation_key,
    role,
    case when role = 'bot' then 'Knovvu virtual agent' end as name,
    cast(null as varchar) as email,
    cast(null as varchar) as source_party_id
from speakers
