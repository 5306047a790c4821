-- hotline schema, version 8: the phone that knows the caller. A call about an issue already open
-- (a repeat caller, or a caller of a declared major incident) keeps its own issue row, closed and
-- marked merged_into the issue it was about: nothing is deleted, the audit trail of both says so.
-- Major incidents are declared with a title, the categories they affect and the announcement the
-- IVR plays; each has one parent issue that the callers' issues are merged into.

ALTER TABLE issues ADD COLUMN merged_into INTEGER REFERENCES issues(id);
CREATE INDEX issues_merged_into ON issues(merged_into) WHERE merged_into IS NOT NULL;

CREATE TABLE incidents (
    id            INTEGER PRIMARY KEY,
    title         TEXT NOT NULL,
    categories    TEXT NOT NULL DEFAULT '[]',    -- JSON array of category ids
    announcement  TEXT NOT NULL,                 -- what the IVR says, synthesised and cached
    issue_id      INTEGER NOT NULL REFERENCES issues(id),  -- the parent issue
    declared_at   TEXT NOT NULL,
    declared_by   TEXT NOT NULL,
    cleared_at    TEXT,
    cleared_by    TEXT,
    callers       INTEGER NOT NULL DEFAULT 0     -- calls linked to it ("I am calling about this")
);
CREATE INDEX incidents_active ON incidents(declared_at) WHERE cleared_at IS NULL;
