-- Salesloft: every transcription sentence is exactly once in archive.messages, with its text.
{% set expected %}
    select distinct transcription_id || ':' || cast(order_number as varchar) as item_id, text as detail
    from {{ source('salesloft', 'transcription_sentences') }}
{% endset %}
{% set actual %}
    select source_message_id as item_id, text as detail from {{ ref('messages') }}
    where conversation_key like 'salesloft:%'
{% endset %}
{{ reconcile(expected, actual) }}
