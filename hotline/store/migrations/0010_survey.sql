-- hotline schema, version 10: automated callback surveys (回访 by phone).
-- One row per survey attempt: the outbound call placed for it (calls.direction 'out', flow
-- 'survey', linked to the issue), how it ended, and whatever the employee keyed before it ended
-- (a partial survey keeps its partial answers). Attempts of the current resolution are those at
-- or after desk_issue.resolved_at; a completed survey is also a desk_callbacks row.

CREATE TABLE survey_attempts (
    id          INTEGER PRIMARY KEY,
    issue_id    INTEGER NOT NULL REFERENCES issues(id),
    call_id     INTEGER REFERENCES calls(id),      -- NULL when nothing could be dialled
    attempt     INTEGER NOT NULL CHECK (attempt >= 1),
    number      TEXT NOT NULL,                     -- the directory number dialled
    started_at  TEXT NOT NULL,
    ended_at    TEXT,
    outcome     TEXT,                              -- NULL while the call runs; see hotline.calls.survey_plan
    efficiency  INTEGER CHECK (efficiency BETWEEN 1 AND 5),
    result      INTEGER CHECK (result BETWEEN 1 AND 5),
    attitude    INTEGER CHECK (attitude BETWEEN 1 AND 5),
    not_fixed   INTEGER NOT NULL DEFAULT 0 CHECK (not_fixed IN (0, 1)),
    keys        TEXT NOT NULL DEFAULT ''           -- every key pressed, in order
);
CREATE INDEX survey_attempts_issue ON survey_attempts(issue_id, started_at);
