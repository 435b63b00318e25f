{#- The columns of every `stg_<vendor>__media_files` model, with no row: the staging model of a
    vendor that stores no files (Foundry, Kore.ai), or of a file stream whose raw table the
    loader has not created (no record yet). -#}
{% macro empty_media_files() -%}
select
    cast(null as varchar) as media_key,
    cast(null as varchar) as conversation_key,
    cast(null as varchar) as kind,
    cast(null as varchar) as mediatype,
    cast(null as varchar) as storage_uri,
    cast(null as varchar) as sha256,
    cast(null as bigint) as size_bytes,
    cast(null as varchar) as filename,
    cast(null as varchar) as party_key,
    cast(null as timestamp) as started_at,
    cast(null as varchar) as source_file_id
where 1 = 0
{%- endmacro %}

{#- True when the raw table behind `source(source_name, table_name)` exists in the warehouse.
    A loader creates a stream's table with its first record: a tap run without `storage_url`
    (Salesloft transcript files skipped) leaves no table, and the archive still builds.
    At parse time (no warehouse) this answers true, so the dependency is recorded. -#}
{% macro source_exists(source_name, table_name) -%}
  {%- set relation = source(source_name, table_name) -%}
  {%- if not execute -%}{{ return(true) }}{%- endif -%}
  {{ return(load_relation(relation) is not none) }}
{%- endmacro %}
