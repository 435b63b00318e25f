-- Kore.ai stores no files.
{{ empty_media_files() }}
