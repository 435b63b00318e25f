-- Knovvu has audio only: no text messages (the archive keeps the audio in media_files).
select
    cast(null as varchar) as message_key,
    cast(null as varchar) as conversation_key,
    cast(null as varchar) as party_key,
    cast(null as varchar) as role,
    cast(null as integer) as sequence,
    cast(null as timestamp) as sent_at,
    cast(null as varchar) as text,
    cast(null as varchar) as source_message_id
where 1 = 0
