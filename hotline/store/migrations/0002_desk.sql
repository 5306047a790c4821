-- hotline schema, version 2: the service desk (hotline.desk) — availability, dispatch log, flags,
-- the per-issue SLA projection, callbacks, the score ledger, the notification outbox, the
-- knowledge base and full-text search. Timestamps are UTC ISO text as in 0001; dates are
-- local (site timezone) ISO dates.

-- Leave: the person is away for whole local days [starts_on, ends_on] (inclusive).
CREATE TABLE desk_leave (
    id          INTEGER PRIMARY KEY,
    person_id   TEXT NOT NULL REFERENCES people(id),
    starts_on   TEXT NOT NULL,
    ends_on     TEXT NOT NULL CHECK (ends_on >= starts_on),
    reason      TEXT NOT NULL DEFAULT '',
    made_by     TEXT NOT NULL,
    made_at     TEXT NOT NULL
);
CREATE INDEX desk_leave_person ON desk_leave(person_id, ends_on);

-- Shifts: weekly local-time windows a person works. Someone with no rows works the desk's
-- business hours; someone with rows is available only inside them.
CREATE TABLE desk_shifts (
    id          INTEGER PRIMARY KEY,
    person_id   TEXT NOT NULL REFERENCES people(id),
    weekday     INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    starts      TEXT NOT NULL,                  -- "08:00"
    ends        TEXT NOT NULL,                  -- "17:30"; "24:00" for the end of the day
    CHECK (ends > starts)
);
CREATE INDEX desk_shifts_person ON desk_shifts(person_id);

-- Every dispatch decision, automatic or manual, with its reason, so fairness can be audited.
CREATE TABLE desk_dispatch_log (
    id          INTEGER PRIMARY KEY,
    issue_id    INTEGER NOT NULL REFERENCES issues(id),
    at          TEXT NOT NULL,
    post_id     TEXT,
    person_id   TEXT REFERENCES people(id),     -- NULL: nobody available, issue left unassigned
    role        TEXT CHECK (role IN ('A', 'B', 'manual', 'escalation')),
    reason      TEXT NOT NULL,
    actor       TEXT NOT NULL
);
CREATE INDEX desk_dispatch_log_issue ON desk_dispatch_log(issue_id, id);
CREATE INDEX desk_dispatch_log_person ON desk_dispatch_log(person_id, at);

-- Per-issue projection kept by the desk: SLA clocks and flags. Rebuildable from issue_events.
CREATE TABLE desk_issue (
    issue_id          INTEGER PRIMARY KEY REFERENCES issues(id),
    response_due      TEXT,
    resolution_due    TEXT,
    first_response_at TEXT,
    resolved_at       TEXT,
    response_minutes  REAL,                     -- in the priority's clock (business or 24x7)
    resolution_minutes REAL,
    response_met      INTEGER,
    resolution_met    INTEGER,
    sla_state         TEXT NOT NULL DEFAULT 'on_track',
    escalated_at      TEXT,
    unassigned        INTEGER NOT NULL DEFAULT 0 CHECK (unassigned IN (0, 1)),
    last_note_at      TEXT
);
CREATE INDEX desk_issue_unassigned ON desk_issue(unassigned) WHERE unassigned = 1;

-- Callbacks (回访): one row per call made to the employee after resolution.
CREATE TABLE desk_callbacks (
    id          INTEGER PRIMARY KEY,
    issue_id    INTEGER NOT NULL REFERENCES issues(id),
    at          TEXT NOT NULL,
    by          TEXT NOT NULL,                  -- person id, or "ivr"
    efficiency  INTEGER NOT NULL CHECK (efficiency BETWEEN 1 AND 5),
    result      INTEGER NOT NULL CHECK (result BETWEEN 1 AND 5),
    attitude    INTEGER NOT NULL CHECK (attitude BETWEEN 1 AND 5),
    fixed       INTEGER NOT NULL CHECK (fixed IN (0, 1)),
    comment     TEXT NOT NULL DEFAULT '',
    reopened    INTEGER NOT NULL CHECK (reopened IN (0, 1))
);
CREATE INDEX desk_callbacks_issue ON desk_callbacks(issue_id);
CREATE INDEX desk_callbacks_at ON desk_callbacks(at);

-- Manual score adjustments: part of the scoring event log, append-only.
CREATE TABLE desk_score_adjustments (
    id          INTEGER PRIMARY KEY,
    person_id   TEXT NOT NULL REFERENCES people(id),
    month       TEXT NOT NULL,                  -- "2026-11"
    points      REAL NOT NULL,
    reason      TEXT NOT NULL CHECK (length(trim(reason)) > 0),
    made_by     TEXT NOT NULL,
    made_at     TEXT NOT NULL,
    issue_id    INTEGER REFERENCES issues(id)
);
CREATE TRIGGER desk_score_adjustments_no_update BEFORE UPDATE ON desk_score_adjustments
BEGIN SELECT RAISE(ABORT, 'desk_score_adjustments is append-only'); END;
CREATE TRIGGER desk_score_adjustments_no_delete BEFORE DELETE ON desk_score_adjustments
BEGIN SELECT RAISE(ABORT, 'desk_score_adjustments is append-only'); END;

-- The score ledger kept incrementally; `key` makes each entry idempotent
-- ("resolve:42", "ontime:42", "overdue:42:2026-10-12", "adjust:7").
CREATE TABLE desk_scores (
    key         TEXT PRIMARY KEY,
    person_id   TEXT NOT NULL,
    month       TEXT NOT NULL,
    points      REAL NOT NULL,
    issue_id    INTEGER,
    reason      TEXT NOT NULL
);
CREATE INDEX desk_scores_month ON desk_scores(month, person_id);

-- The notification outbox: written in the transaction of the event that causes it,
-- delivered at least once by hotline.desk.notify.worker under an expiring lease.
CREATE TABLE desk_outbox (
    id              INTEGER PRIMARY KEY,
    created_at      TEXT NOT NULL,
    issue_id        INTEGER REFERENCES issues(id),
    event           TEXT NOT NULL,              -- dispatched, at_risk, breached, reopened, ...
    recipient       TEXT NOT NULL,              -- person id
    channel         TEXT NOT NULL,              -- a configured channel name
    payload         TEXT NOT NULL,              -- JSON context for the templates
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    lease_owner     TEXT,
    lease_until     TEXT,
    last_error      TEXT,
    sent_at         TEXT
);
CREATE INDEX desk_outbox_due ON desk_outbox(state, next_attempt_at) WHERE state = 'pending';
CREATE INDEX desk_outbox_issue ON desk_outbox(issue_id);

-- Knowledge base articles, usually made from a resolved issue.
CREATE TABLE kb_articles (
    id          INTEGER PRIMARY KEY,
    issue_id    INTEGER REFERENCES issues(id),
    title       TEXT NOT NULL,
    symptoms    TEXT NOT NULL DEFAULT '',
    fix         TEXT NOT NULL DEFAULT '',
    category    TEXT REFERENCES categories(id),
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

-- Full-text search (Chinese and English) with the trigram tokenizer: external-content
-- indexes kept in step by triggers. Trigram matches need queries of 3+ characters;
-- hotline.desk.kb falls back to LIKE for shorter ones.
CREATE VIRTUAL TABLE issues_fts USING fts5(
    description, resolution, content='issues', content_rowid='id', tokenize='trigram');
CREATE TRIGGER issues_fts_ai AFTER INSERT ON issues BEGIN
    INSERT INTO issues_fts(rowid, description, resolution)
    VALUES (new.id, new.description, new.resolution);
END;
CREATE TRIGGER issues_fts_ad AFTER DELETE ON issues BEGIN
    INSERT INTO issues_fts(issues_fts, rowid, description, resolution)
    VALUES ('delete', old.id, old.description, old.resolution);
END;
CREATE TRIGGER issues_fts_au AFTER UPDATE OF description, resolution ON issues BEGIN
    INSERT INTO issues_fts(issues_fts, rowid, description, resolution)
    VALUES ('delete', old.id, old.description, old.resolution);
    INSERT INTO issues_fts(rowid, description, resolution)
    VALUES (new.id, new.description, new.resolution);
END;
INSERT INTO issues_fts(issues_fts) VALUES ('rebuild');

CREATE VIRTUAL TABLE kb_fts USING fts5(
    title, symptoms, fix, content='kb_articles', content_rowid='id', tokenize='trigram');
CREATE TRIGGER kb_fts_ai AFTER INSERT ON kb_articles BEGIN
    INSERT INTO kb_fts(rowid, title, symptoms, fix) VALUES (new.id, new.title, new.symptoms, new.fix);
END;
CREATE TRIGGER kb_fts_ad AFTER DELETE ON kb_articles BEGIN
    INSERT INTO kb_fts(kb_fts, rowid, title, symptoms, fix)
    VALUES ('delete', old.id, old.title, old.symptoms, old.fix);
END;
CREATE TRIGGER kb_fts_au AFTER UPDATE ON kb_articles BEGIN
    INSERT INTO kb_fts(kb_fts, rowid, title, symptoms, fix)
    VALUES ('delete', old.id, old.title, old.symptoms, old.fix);
    INSERT INTO kb_fts(rowid, title, symptoms, fix) VALUES (new.id, new.title, new.symptoms, new.fix);
END;
