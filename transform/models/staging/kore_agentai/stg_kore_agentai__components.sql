-- Kore.ai: one row per message component (messages[].components[]), in message then
-- component order; `text` is the component's `data.text`.
with messages as (
    {{ dedupe("select * from " ~ source('kore_agentai', 'conversation_messages'),
              "conversation_record_id, message_index", raw_col('__lModifiedOn__') ~ " desc") }}
)

select
    m.conversation_record_id,
    m.message_index,
    c.idx as component_index,
    upper({{ json_text('m.author', 'type') }}) as author_type,
    {{ raw_col('timestampValue') }} as timestamp_ms,
    {{ json_text(json_element('m.components', 'c.idx'), '_id') }} as component_id,
    {{ json_text(json_element('m.components', 'c.idx'), 'data.text') }} as text
from messages as m
{{ index_rows(json_length('m.components'), 'c') }}
