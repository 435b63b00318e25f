-- One row per utterance, all vendors; `sequence` is the 0-based order within the conversation.
{{ union_staging('messages', ['message_key', 'conversation_key', 'party_key', 'role', 'sequence',
                              'sent_at', 'text', 'source_message_id']) }}
