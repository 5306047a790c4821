-- hotline schema, version 1: staff, posts, the employee directory, calls, issues and their audit.
-- Timestamps are ISO 8601 text in UTC ("2026-11-25T08:01:02.123456+00:00"): they sort as text,
-- read well in the sqlite3 shell, and map onto PostgreSQL timestamptz unchanged.

CREATE TABLE people (
    id          TEXT PRIMARY KEY,              -- login-style id, e.g. "zhangwei"
    name        TEXT NOT NULL,
    mobile      TEXT,                          -- E.164; the only numbers forwarding may dial
    extension   TEXT,
    email       TEXT,
    roles       TEXT NOT NULL DEFAULT '',      -- comma list: operator, engineer, manager, admin
    active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at  TEXT NOT NULL
);

CREATE TABLE posts (
    id          TEXT PRIMARY KEY,              -- e.g. "network"
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT ''
);

CREATE TABLE categories (
    id          TEXT PRIMARY KEY,              -- e.g. "network"
    name        TEXT NOT NULL,
    post_id     TEXT NOT NULL REFERENCES posts(id),
    dtmf        TEXT                           -- IVR menu digit, if the category is offered there
);

CREATE TABLE post_assignments (
    post_id     TEXT NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    person_id   TEXT NOT NULL REFERENCES people(id),
    role        TEXT NOT NULL CHECK (role IN ('A', 'B')),
    rank        INTEGER NOT NULL DEFAULT 0,    -- order among the B roles
    PRIMARY KEY (post_id, person_id)
);
CREATE UNIQUE INDEX post_one_a_role ON post_assignments(post_id) WHERE role = 'A';

CREATE TABLE directory (
    employee_id TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    department  TEXT NOT NULL DEFAULT '',
    location    TEXT NOT NULL DEFAULT '',
    email       TEXT,
    extension   TEXT,
    mobile      TEXT,                          -- lookup key of the mobile (E.164 when valid)
    desk_numbers TEXT NOT NULL DEFAULT '[]',   -- JSON array of lookup keys
    updated_at  TEXT NOT NULL
);

-- Every number of an employee under its lookup key (see hotline.callerid), for caller lookup.
CREATE TABLE directory_numbers (
    key         TEXT NOT NULL,
    employee_id TEXT NOT NULL REFERENCES directory(employee_id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('mobile', 'desk', 'extension')),
    PRIMARY KEY (key, employee_id)
) WITHOUT ROWID;
CREATE INDEX directory_numbers_employee ON directory_numbers(employee_id);

CREATE TABLE calls (
    id            INTEGER PRIMARY KEY,
    sip_call_id   TEXT NOT NULL,
    direction     TEXT NOT NULL DEFAULT 'in' CHECK (direction IN ('in', 'out')),
    from_uri      TEXT NOT NULL DEFAULT '',
    from_display  TEXT,
    caller_raw    TEXT NOT NULL DEFAULT '',    -- the number as presented
    caller_key    TEXT,                        -- normalised lookup key, NULL when withheld
    employee_id   TEXT REFERENCES directory(employee_id) ON DELETE SET NULL,
    to_uri        TEXT NOT NULL DEFAULT '',
    started_at    TEXT NOT NULL,
    answered_at   TEXT,
    ended_at      TEXT,
    disposition   TEXT,                        -- answered, abandoned, forwarded, voicemail, rejected, failed
    route         TEXT,                        -- desk, oncall:<person>, voicemail, ...
    answered_by   TEXT,
    digits        TEXT NOT NULL DEFAULT '',
    recording     TEXT,
    media_stats   TEXT                         -- JSON: packets, loss, jitter per stream
);
CREATE INDEX calls_sip_call_id ON calls(sip_call_id);
CREATE INDEX calls_started ON calls(started_at);

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

CREATE TABLE issues (
    id           INTEGER PRIMARY KEY,
    number       TEXT NOT NULL UNIQUE,         -- HL-2026-000123
    source       TEXT NOT NULL CHECK (source IN ('phone', 'web', 'email', 'walk-in', 'monitoring')),
    call_id      INTEGER REFERENCES calls(id),
    caller_key   TEXT,
    caller_name  TEXT,
    employee_id  TEXT REFERENCES directory(employee_id) ON DELETE SET NULL,
    status       TEXT NOT NULL,
    category     TEXT REFERENCES categories(id),
    priority     TEXT CHECK (priority IN ('P1', 'P2', 'P3', 'P4')),
    description  TEXT NOT NULL DEFAULT '',
    resolution   TEXT NOT NULL DEFAULT '',
    owner        TEXT REFERENCES people(id),
    planned_at   TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    call_ended_at TEXT,                        -- the 30-minute recording rule counts from here
    recorded_at  TEXT,
    recording_overdue INTEGER NOT NULL DEFAULT 0 CHECK (recording_overdue IN (0, 1))
);
-- A caller's history, newest first; and their open issues, which a partial index keeps small
-- however many closed ones a frequent caller has.
CREATE INDEX issues_employee ON issues(employee_id, id);
CREATE INDEX issues_caller ON issues(caller_key, id);
CREATE INDEX issues_open_employee ON issues(employee_id, id) WHERE status <> 'closed';
CREATE INDEX issues_open_caller ON issues(caller_key, id) WHERE status <> 'closed';
CREATE INDEX issues_status ON issues(status, created_at);
CREATE INDEX issues_owner ON issues(owner, status);
CREATE INDEX issues_created ON issues(created_at);
CREATE INDEX issues_call ON issues(call_id);

-- Append-only audit trail: every change to an issue, with who, when, before and after.
CREATE TABLE issue_events (
    id        INTEGER PRIMARY KEY,
    issue_id  INTEGER NOT NULL REFERENCES issues(id),
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,                   -- person id, or "system", or "caller"
    kind      TEXT NOT NULL,                   -- created, status, field, note, dispatch, ...
    before    TEXT,                            -- JSON
    after     TEXT,                            -- JSON
    note      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX issue_events_issue ON issue_events(issue_id, id);

CREATE TRIGGER issue_events_no_update BEFORE UPDATE ON issue_events
BEGIN SELECT RAISE(ABORT, 'issue_events is append-only'); END;
CREATE TRIGGER issue_events_no_delete BEFORE DELETE ON issue_events
BEGIN SELECT RAISE(ABORT, 'issue_events is append-only'); END;

-- Run-time changes to the on-call rota: overrides and swaps, with who made them and why.
CREATE TABLE rota_changes (
    id         INTEGER PRIMARY KEY,
    rota       TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('override', 'swap')),
    starts_at  TEXT NOT NULL,
    ends_at    TEXT NOT NULL CHECK (ends_at > starts_at),
    person     TEXT NOT NULL REFERENCES people(id),
    other      TEXT REFERENCES people(id),      -- the replaced person (override) or swap partner
    level      TEXT NOT NULL DEFAULT 'primary' CHECK (level IN ('primary', 'secondary')),
    made_by    TEXT NOT NULL,
    reason     TEXT NOT NULL,
    made_at    TEXT NOT NULL
);
CREATE INDEX rota_changes_span ON rota_changes(rota, starts_at);
