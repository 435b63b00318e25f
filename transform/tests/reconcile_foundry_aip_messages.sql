-- Foundry: every exchange's user input and agent response is exactly once in archive.messages.
{% set expected %}
    select distinct session_rid || ':' || cast(exchange_index as varchar) || ':user' as item_id,
           {{ json_text(raw_col('userInput'), 'text') }} as detail
    from {{ source('foundry_aip', 'session_exchanges') }}
    where {{ json_text(raw_col('userInput'), 'text') }} is not null
    union all
    select distinct session_rid || ':' || cast(exchange_index as varchar) || ':agent',
           {{ json_text('result', 'agentMarkdownResponse') }}
    from {{ source('foundry_aip', 'session_exchanges') }}
    where {{ json_text('result', 'agentMarkdownResponse') }} is not null
{% endset %}
{% set actual %}
    select source_message_id as item_id, text as detail from {{ ref('messages') }}
    where conversation_key like 'foundry\_aip:%' escape '\'
{% endset %}
{{ reconcile(expected, actual) }}
