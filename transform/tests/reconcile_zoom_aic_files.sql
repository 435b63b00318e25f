-- Zoom: every stored attachment is exactly once in archive.media_files with its sha256, and
-- every stored history file once for each conversation it carries.
{% set expected %}
    select 'attachment:' || storage_uri as item_id, sha256 as detail
    from (select distinct storage_uri, sha256 from {{ source('zoom_aic', 'archive_attachments') }}
          where storage_uri is not null) as a
    union all
    select distinct
        'history:' || h.user_id || ':' || {{ json_text(json_element(json_value('h.content', 'conversations'), 'c.idx'), 'conversation_id') }}
            || ':' || h.storage_uri as item_id,
        h.sha256 as detail
    from {{ source('zoom_aic', 'conversation_histories') }} as h
    {{ index_rows(json_length(json_value('h.content', 'conversations')), 'c') }}
    where h.storage_uri is not null
{% endset %}
{% set actual %}
    select
        case when kind = 'attachment' then 'attachment:' || storage_uri
             else 'history:' || substr(conversation_key, length('zoom_aic:') + 1) || ':' || storage_uri end as item_id,
        sha256 as detail
    from {{ ref('media_files') }} where conversation_key like 'zoom\_aic:%' escape '\'
{% endset %}
{{ reconcile(expected, actual) }}
