-- Every message of the copy of each conversation the archive reads, in file order.
with conversations as (
    select * from {{ ref('stg_zoom_aic__history_conversations') }} where copy_rank = 1
)

select
    c.user_id,
    c.conversation_id,
    m.idx as message_index,
    {{ json_text(json_element('c.messages', 'm.idx'), 'role') }} as zoom_role,
    {{ json_text(json_element('c.messages', 'm.idx'), 'content') }} as content,
    {{ json_text(json_element('c.messages', 'm.idx'), 'timestamp') }} as sent_at_text,
    {{ json_value(json_element('c.messages', 'm.idx'), 'attachments') }} as attachments
from conversations as c
{{ index_rows(json_length('c.messages'), 'm') }}
