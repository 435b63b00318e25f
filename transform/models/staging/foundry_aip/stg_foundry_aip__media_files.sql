-- Foundry stores no files.
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
