-- One row per stored file of a conversation, all vendors, with the sha256 the tap computed.
{{ union_staging('media_files', ['media_key', 'conversation_key', 'kind', 'mediatype', 'storage_uri', 'sha256',
                                 'size_bytes', 'filename', 'party_key', 'started_at', 'source_file_id']) }}
