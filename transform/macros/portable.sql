{#- SQL that differs between DuckDB and PostgreSQL, in one place. Each macro has a
    DuckDB form and a PostgreSQL form (`default__`), chosen by adapter.dispatch. -#}

{#- PostgreSQL: a JSON column as jsonb, whatever the loader made of it. target-postgres stores
    objects as jsonb and arrays of objects as jsonb[] (to_jsonb turns that into one jsonb
    array); a text column holding JSON is parsed. -#}
{% macro pg_jsonb(expr) -%}
(case when jsonb_typeof(to_jsonb({{ expr }})) = 'string' then cast(to_jsonb({{ expr }}) #>> '{}' as jsonb)
      else to_jsonb({{ expr }}) end)
{%- endmacro %}

{#- The text at a JSON object key (`key` may be a dotted path, e.g. 'metadata.title'). -#}
{% macro json_text(expr, path) %}{{ return(adapter.dispatch('json_text')(expr, path)) }}{% endmacro %}
{% macro duckdb__json_text(expr, path) %}json_extract_string({{ expr }}, '$.{{ path }}'){% endmacro %}
{% macro default__json_text(expr, path) %}({{ pg_jsonb(expr) }} #>> '{ {{- path.split('.') | join(',') -}} }'){% endmacro %}

{#- The JSON value at a key (a JSON value, not text). -#}
{% macro json_value(expr, path) %}{{ return(adapter.dispatch('json_value')(expr, path)) }}{% endmacro %}
{% macro duckdb__json_value(expr, path) %}json_extract({{ expr }}, '$.{{ path }}'){% endmacro %}
{% macro default__json_value(expr, path) %}({{ pg_jsonb(expr) }} #> '{ {{- path.split('.') | join(',') -}} }'){% endmacro %}

{#- The element at 0-based integer `idx` of a JSON array. -#}
{% macro json_element(expr, idx) %}{{ return(adapter.dispatch('json_element')(expr, idx)) }}{% endmacro %}
{% macro duckdb__json_element(expr, idx) %}json_extract({{ expr }}, cast({{ idx }} as bigint)){% endmacro %}
{% macro default__json_element(expr, idx) %}({{ pg_jsonb(expr) }} -> cast({{ idx }} as integer)){% endmacro %}

{#- Number of elements of a JSON array (0 for null or a non-array). -#}
{% macro json_length(expr) %}{{ return(adapter.dispatch('json_length')(expr)) }}{% endmacro %}
{% macro duckdb__json_length(expr) %}cast(coalesce(json_array_length({{ expr }}), 0) as bigint){% endmacro %}
{% macro default__json_length(expr) %}(case when jsonb_typeof({{ pg_jsonb(expr) }}) = 'array' then jsonb_array_length({{ pg_jsonb(expr) }}) else 0 end){% endmacro %}

{#- A lateral row source of 0-based indexes 0 .. n-1 as column `alias`.idx (no rows when n = 0). -#}
{% macro index_rows(n, alias) %}{{ return(adapter.dispatch('index_rows')(n, alias)) }}{% endmacro %}
{% macro duckdb__index_rows(n, alias) %}cross join lateral range(0, {{ n }}) as {{ alias }}(idx){% endmacro %}
{% macro default__index_rows(n, alias) %}cross join lateral generate_series(0, {{ n }} - 1) as {{ alias }}(idx){% endmacro %}

{#- An ISO-8601 text with an offset or `Z` as a UTC timestamp without time zone. -#}
{% macro iso_to_utc(expr) %}{{ return(adapter.dispatch('iso_to_utc')(expr)) }}{% endmacro %}
{% macro duckdb__iso_to_utc(expr) %}timezone('UTC', cast({{ expr }} as timestamptz)){% endmacro %}
{% macro default__iso_to_utc(expr) %}(cast({{ expr }} as timestamptz) at time zone 'UTC'){% endmacro %}

{#- A loader's timestamp column (stored as UTC) as a UTC timestamp without time zone. -#}
{% macro utc_column(expr) %}{{ return(adapter.dispatch('utc_column')(expr)) }}{% endmacro %}
{% macro duckdb__utc_column(expr) %}cast({{ expr }} as timestamp){% endmacro %}
{% macro default__utc_column(expr) %}(case when {{ expr }} is null then null else cast({{ expr }} as timestamp) end){% endmacro %}

{#- Milliseconds since the Unix epoch as a UTC timestamp. -#}
{% macro epoch_ms_to_utc(expr) %}{{ return(adapter.dispatch('epoch_ms_to_utc')(expr)) }}{% endmacro %}
{% macro duckdb__epoch_ms_to_utc(expr) %}epoch_ms(cast({{ expr }} as bigint)){% endmacro %}
{% macro default__epoch_ms_to_utc(expr) %}(to_timestamp(cast({{ expr }} as double precision) / 1000.0) at time zone 'UTC'){% endmacro %}

{#- A timestamp plus a number of seconds (may be fractional). -#}
{% macro add_seconds(ts, seconds) %}{{ return(adapter.dispatch('add_seconds')(ts, seconds)) }}{% endmacro %}
{% macro duckdb__add_seconds(ts, seconds) %}({{ ts }} + to_microseconds(cast(round({{ seconds }} * 1000000) as bigint))){% endmacro %}
{% macro default__add_seconds(ts, seconds) %}({{ ts }} + {{ seconds }} * interval '1 second'){% endmacro %}

{#- The vCon uuid of a conversation: a version 8 UUID (RFC 9562) whose bits are the MD5 of
    'vcon:' || conversation_key, with the version nibble set to 8 and the variant bits to 10.
    Deterministic, so a conversation keeps its uuid across runs; conversation_archive.vcon
    computes the same value (`vcon_uuid()`) and its tests check both agree. -#}
{% macro vcon_uuid(key) -%}
  {%- set h = "md5('vcon:' || " ~ key ~ ")" -%}
  (substr({{ h }}, 1, 8) || '-' || substr({{ h }}, 9, 4) || '-8' || substr({{ h }}, 14, 3) || '-'
   || substr('89ab', (position(substr({{ h }}, 17, 1) in '0123456789abcdef') - 1) % 4 + 1, 1)
   || substr({{ h }}, 18, 3) || '-' || substr({{ h }}, 21, 12))
{%- endmacro %}

{#- A MIME type from a file name's extension (vCon core-04 names audio/x-wav, audio/x-mp3 ...). -#}
{% macro mediatype_from_name(name) -%}
  (case lower(regexp_replace(coalesce({{ name }}, ''), '^.*\.', ''))
     when 'json' then 'application/json'
     when 'png' then 'image/png'
     when 'jpg' then 'image/jpeg'
     when 'jpeg' then 'image/jpeg'
     when 'gif' then 'image/gif'
     when 'pdf' then 'application/pdf'
     when 'txt' then 'text/plain'
     when 'csv' then 'text/csv'
     when 'docx' then 'application/vnd.openxmlformats-officedocument.wordprocessingml.document'
     when 'xlsx' then 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'
     when 'pptx' then 'application/vnd.openxmlformats-officedocument.presentationml.presentation'
     when 'opus' then 'audio/ogg'
     when 'ogg' then 'audio/ogg'
     when 'wav' then 'audio/x-wav'
     when 'mp3' then 'audio/x-mp3'
     when 'mp4' then 'video/x-mp4'
     when 'm4a' then 'audio/x-mp4'
     else 'application/octet-stream'
   end)
{%- endmacro %}

{#- Keep one row per `partition_by`, the first by `order_by` (portable: no QUALIFY). -#}
{% macro dedupe(relation_sql, partition_by, order_by) -%}
  select * from (
    select d.*, row_number() over (partition by {{ partition_by }} order by {{ order_by }}) as dedupe_rank
    from ({{ relation_sql }}) as d
  ) as ranked where dedupe_rank = 1
{%- endmacro %}

{#- A raw tap column as the loader named it: target-duckdb lower-cases the vendor's field
    name (userInput -> userinput); MeltanoLabs target-postgres keeps it as it is
    (userInput, quoted). -#}
{% macro raw_col(name) %}{{ return(adapter.dispatch('raw_col')(name)) }}{% endmacro %}
{% macro duckdb__raw_col(name) %}{{ adapter.quote(name | lower) }}{% endmacro %}
{% macro default__raw_col(name) %}{{ adapter.quote(name) }}{% endmacro %}

{#- The text of the element at 0-based `idx` of a JSON array of strings. -#}
{% macro json_element_text(expr, idx) %}{{ return(adapter.dispatch('json_element_text')(expr, idx)) }}{% endmacro %}
{% macro duckdb__json_element_text(expr, idx) %}json_extract_string({{ expr }}, cast({{ idx }} as bigint)){% endmacro %}
{% macro default__json_element_text(expr, idx) %}({{ pg_jsonb(expr) }} ->> cast({{ idx }} as integer)){% endmacro %}
