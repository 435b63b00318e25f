{#- Custom schemas are used as named (`archive`, `archive_staging`), not prefixed with the
    target's schema, so the marts are `archive.conversations` on every warehouse. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
  {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
