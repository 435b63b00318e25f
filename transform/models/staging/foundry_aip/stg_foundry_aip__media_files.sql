-- Foundry stores no files.
{{ empty_media_files() }}
