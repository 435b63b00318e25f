-- `sequence` runs 0, 1, ... n-1 within each conversation, without gaps or repeats.
select conversation_key, count(*) as n, min(sequence) as first_sequence, max(sequence) as last_sequence,
       count(distinct sequence) as distinct_sequences
from {{ ref('messages') }}
group by conversation_key
having min(sequence) <> 0 or max(sequence) <> count(*) - 1 or count(distinct sequence) <> count(*)
