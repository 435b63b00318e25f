-- Every conversation of every source is exactly once in archive.conversations.
{% set expected %}
    select distinct 'zoom_aic:' || h.user_id || ':'
        || {{ json_text(json_element(json_value('h.content', 'conversations'), 'c.idx'), 'conversation_id') }} as item_id,
        'zoom_aic' as detail
    from {{ source('zoom_aic', 'conversation_histories') }} as h
    {{ index_rows(json_length(json_value('h.content', 'conversations')), 'c') }}
    union all
    select distinct 'knovvu:' || coalesce({{ raw_col('externalConversationId') }}, {{ raw_col('sessionId') }}), 'knovvu'
    from {{ source('knovvu', 'recording_files') }} where storage_uri is not null
    union all
    select distinct 'salesloft:' || id, 'salesloft' from {{ source('salesloft', 'conversations') }}
    union all
    select distinct 'foundry_aip:' || rid, 'foundry_aip' from {{ source('foundry_aip', 'sessions') }}
    union all
    select distinct 'kore_agentai:' || _id, 'kore_agentai' from {{ source('kore_agentai', 'conversations') }}
{% endset %}
{% set actual %}
    select conversation_key as item_id, source as detail from {{ ref('conversations') }}
    where source <> 'salesloft' or source_conversation_id in (select id from {{ source('salesloft', 'conversations') }})
{% endset %}
{{ reconcile(expected, actual) }}
