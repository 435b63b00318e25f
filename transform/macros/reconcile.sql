{#- Reconciliation of one source against the archive. `expected_sql` lists every source item
    as (item_id, detail) read straight from the raw tap tables; `actual_sql` lists what the
    archive holds as (item_id, detail). A row comes back (a failure) for every item that is
    missing, held more than once, held with a different detail (text, sha256), or held in
    the archive without being in the source. -#}
{% macro reconcile(expected_sql, actual_sql) -%}
with expected as ({{ expected_sql }}),
actual as ({{ actual_sql }}),
expected_items as (select item_id, min(detail) as detail, count(*) as n from expected group by item_id),
actual_items as (select item_id, min(detail) as detail, max(detail) as detail_max, count(*) as n from actual group by item_id)
select
    coalesce(e.item_id, a.item_id) as item_id,
    case
        when a.item_id is null then 'missing from the archive'
        when e.item_id is null then 'in the archive but not in the source'
        when a.n <> 1 then 'held ' || cast(a.n as varchar) || ' times'
        when a.detail <> e.detail or a.detail_max <> e.detail
             or (a.detail is null) <> (e.detail is null) then 'detail differs'
    end as problem
from expected_items as e
full outer join actual_items as a on a.item_id = e.item_id
where a.item_id is null or e.item_id is null or a.n <> 1
   or a.detail <> e.detail or a.detail_max <> e.detail or (a.detail is null) <> (e.detail is null)
{%- endmacro %}
