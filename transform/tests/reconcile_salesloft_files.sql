-- Salesloft: every stored transcript file (`transcription_artifacts`) is exactly once in
-- archive.media_files (kind transcript) with its sha256, and the archive holds no Salesloft
-- file the tap did not store. No raw table (the tap ran without storage_url): no file expected.
{% set expected %}
    {% if source_exists('salesloft', 'transcription_artifacts') %}
    select distinct storage_uri as item_id, sha256 as detail
    from {{ source('salesloft', 'transcription_artifacts') }} where storage_uri is not null
    {% else %}
    select cast(null as varchar) as item_id, cast(null as varchar) as detail where 1 = 0
    {% endif %}
{% endset %}
{% set actual %}
    select storage_uri as item_id, sha256 as detail from {{ ref('media_files') }}
    where conversation_key like 'salesloft:%'
{% endset %}
{{ reconcile(expected, actual) }}
