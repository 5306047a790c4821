-- hotline schema, version 9: calls the hotline places itself (a call back from the console).
-- An outbound call (direction 'out') belongs to the issue it was made for, which is not the
-- issue's own call (issues.call_id, the call that created it): one issue may have many.
-- placed_by is the console user whose desk phone was rung first.

ALTER TABLE calls ADD COLUMN issue_id INTEGER REFERENCES issues(id);
ALTER TABLE calls ADD COLUMN placed_by TEXT REFERENCES people(id);
CREATE INDEX calls_issue ON calls(issue_id) WHERE issue_id IS NOT NULL;
