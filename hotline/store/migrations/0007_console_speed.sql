-- hotline schema, version 7: the console's issue list at a million issues.
-- A list page walks one index in created_at order and stops after a page of matches
-- (hotline/store/issues.py, issue_list_sql); it follows the rarest filter's index, so a page
-- costs at most about as many rows as that filter keeps, not the whole table. Each filter the
-- list offers on a column of issues gets an index (column, created_at) — status has one since
-- version 1 — and the two flags, which hold on few issues, partial indexes of their own (the
-- flag leads, so that SQLite prefers them to version 4's issues_call_back, which has no order).

CREATE INDEX issues_category_created ON issues(category, created_at);
CREATE INDEX issues_priority_created ON issues(priority, created_at);
CREATE INDEX issues_owner_created ON issues(owner, created_at);
CREATE INDEX issues_source_created ON issues(source, created_at);
CREATE INDEX issues_call_back_created ON issues(call_back, created_at) WHERE call_back = 1;
CREATE INDEX issues_overdue_created ON issues(recording_overdue, created_at) WHERE recording_overdue = 1;
