-- Knovvu: every stored audio file is exactly once in archive.media_files (kind recording) with
-- its sha256; Knovvu has no text, so archive.messages holds nothing from it.
{% set expected %}
    select distinct storage_uri as item_id, sha256 as detail
    from {{ source('knovvu', 'recording_files') }} where storage_uri is not null
{% endset %}
{% set actual %}
    select storage_uri as item_id, sha256 as detail from {{ ref('media_files') }}
    where conversation_key like 'knovvu:%' and kind = 'recording'
    union all
    select message_key, text from {{ ref('messages') }} where conversation_key like 'knovvu:%'
{% endset %}
{{ reconcile(expected, actual) }}
