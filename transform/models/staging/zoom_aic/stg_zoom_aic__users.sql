-- The archived user's name and email: from the users stream, else from the archive descriptor.
with from_users as (
    select id as user_id, email, display_name from {{ source('zoom_aic', 'users') }}
),

from_archives as (
    select user_id, max(email) as email, max(display_name) as display_name
    from {{ source('zoom_aic', 'conversation_archives') }}
    group by user_id
)

select
    coalesce(u.user_id, a.user_id) as user_id,
    coalesce(u.email, a.email) as email,
    coalesce(u.display_name, a.display_name) as display_name
from from_users as u
full outer join from_archives as a on a.user_id = u.user_id
