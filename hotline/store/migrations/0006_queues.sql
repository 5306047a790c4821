-- hotline schema, version 6: indexes for the console's work queues (hotline/store/queues.py).

-- Callers to call back: flagged calls whose issue is not closed, oldest first. The flag stays on
-- an issue for good, so an index of every flagged issue would be walked past all the closed ones
-- (most of them, after a year) before the first open one; this one holds the open ones only.
CREATE INDEX issues_call_back_open ON issues(id) WHERE call_back = 1 AND status <> 'closed';

-- The callback queue (回访): resolved issues, longest waiting first, read in order from the index
-- instead of sorting every resolved issue.
CREATE INDEX issues_status_updated ON issues(status, updated_at);
