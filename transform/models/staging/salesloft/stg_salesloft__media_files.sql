-- Salesloft: each transcription's transcript file (`transcription_artifacts`), stored by the tap
-- with its sha256 and size (kind transcript). Salesloft supplies the file, no party sends it.
select
    'salesloft:' || conversation_id || ':transcript:' || transcription_id as media_key,
    'salesloft:' || conversation_id as conversation_key,
    'transcript' as kind,
    coalesce(content_type, 'application/json') as mediatype,
    storage_uri,
    sha256,
    size_bytes,
    regexp_replace(storage_uri, '^.*/', '') as filename,
    cast(null as varchar) as party_key,
    created_at as started_at,
    transcription_id as source_file_id
from {{ ref('stg_salesloft__artifacts') }}
where conversation_id is not null
