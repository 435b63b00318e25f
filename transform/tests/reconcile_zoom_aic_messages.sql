-- Zoom: every message of every conversation in the stored history files (raw
-- conversation_histories.content) is exactly once in archive.messages, with its text.
{% set expected %}
    select distinct
        h.user_id || ':' || {{ json_text(json_element(json_value('h.content', 'conversations'), 'c.idx'), 'conversation_id') }}
            || ':' || cast(m.idx as varchar) as item_id,
        {{ json_text(json_element(json_value(json_element(json_value('h.content', 'conversations'), 'c.idx'), 'messages'), 'm.idx'), 'content') }} as detail
    from {{ source('zoom_aic', 'conversation_histories') }} as h
    {{ index_rows(json_length(json_value('h.content', 'conversations')), 'c') }}
    {{ index_rows(json_length(json_value(json_element(json_value('h.content', 'conversations'), 'c.idx'), 'messages')), 'm') }}
{% endset %}
{% set actual %}
    select substr(message_key, length('zoom_aic:') + 1) as item_id, text as detail
    from {{ ref('messages') }} where conversation_key like 'zoom\_aic:%' escape '\'
{% endset %}
{{ reconcile(expected, actual) }}
