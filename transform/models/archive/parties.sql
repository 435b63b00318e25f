-- One row per party of a conversation, all vendors (see transform/README.md for the mapping).
{{ union_staging('parties', ['party_key', 'conversation_key', 'role', 'name', 'email', 'source_party_id']) }}
