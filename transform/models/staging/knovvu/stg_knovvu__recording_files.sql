-- Knovvu: one row per stored audio file (the tap unpacks each hourly archive into one file per
-- message), deduplicated on the file's identity (session, message, type).
{{ dedupe(
    "select * from " ~ source('knovvu', 'recording_files') ~ " where storage_uri is not null",
    raw_col('sessionId') ~ ", " ~ raw_col('messageId') ~ ", type",
    "date desc, hour desc, storage_uri") }}
