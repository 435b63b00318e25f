{#- The five vendors the archive unifies, in a fixed order. -#}
{% macro archive_sources() %}{{ return(['zoom_aic', 'knovvu', 'salesloft', 'foundry_aip', 'kore_agentai']) }}{% endmacro %}

{#- `select <columns> from stg_<source>__<entity>` for every source, glued with union all. -#}
{% macro union_staging(entity, columns) -%}
  {%- for source in archive_sources() %}
    select {{ columns | join(', ') }} from {{ ref('stg_' ~ source ~ '__' ~ entity) }}
    {% if not loop.last %}union all{% endif %}
  {%- endfor %}
{%- endmacro %}
