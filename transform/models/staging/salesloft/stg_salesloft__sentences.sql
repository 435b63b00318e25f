-- Salesloft: one row per transcription sentence (key: transcription_id + order_number), with
-- the conversation it belongs to (the sentence's own `conversation.id`, else its transcription's).
with sentences as (
    {{ dedupe("select * from " ~ source('salesloft', 'transcription_sentences'),
              "transcription_id, order_number", "transcription_id") }}
),

transcriptions as (
    {{ dedupe("select * from " ~ source('salesloft', 'transcriptions'), "id", "updated_at desc") }}
)

select
    s.transcription_id,
    s.order_number,
    s.id as sentence_id,
    s.start_time,
    s.end_time,
    s.recording_attendee_id,
    s.text,
    coalesce({{ json_text('s.conversation', 'id') }}, {{ json_text('t.conversation', 'id') }}) as conversation_id
from sentences as s
left join transcriptions as t on t.id = s.transcription_id
