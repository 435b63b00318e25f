-- Kore.ai: every message component with text is exactly once in archive.messages.
{% set expected %}
    select distinct
        m.conversation_record_id || ':' || cast(m.message_index as varchar) || ':' || cast(c.idx as varchar) as item_id,
        {{ json_text(json_element('m.components', 'c.idx'), 'data.text') }} as detail
    from {{ source('kore_agentai', 'conversation_messages') }} as m
    {{ index_rows(json_length('m.components'), 'c') }}
    where {{ json_text(json_element('m.components', 'c.idx'), 'data.text') }} is not null
{% endset %}
{% set actual %}
    select substr(message_key, length('kore_agentai:') + 1) as item_id, text as detail from {{ ref('messages') }}
    where conversation_key like 'kore\_agentai:%' escape '\'
{% endset %}
{{ reconcile(expected, actual) }}
