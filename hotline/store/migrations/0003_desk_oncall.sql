-- hotline schema, version 3: the desk dispatches urgent issues outside business hours to the
-- person on call (hotline.rota), so the dispatch log gains the role 'on_call'. SQLite cannot
-- alter a CHECK constraint: the table is rebuilt with its rows and indexes (nothing refers to it).

CREATE TABLE desk_dispatch_log_new (
    id          INTEGER PRIMARY KEY,
    issue_id    INTEGER NOT NULL REFERENCES issues(id),
    at          TEXT NOT NULL,
    post_id     TEXT,
    person_id   TEXT REFERENCES people(id),     -- NULL: nobody available, issue left unassigned
    role        TEXT CHECK (role IN ('A', 'B', 'manual', 'escalation', 'on_call')),
    reason      TEXT NOT NULL,
    actor       TEXT NOT NULL
);
INSERT INTO desk_dispatch_log_new (id, issue_id, at, post_id, person_id, role, reason, actor)
    SELECT id, issue_id, at, post_id, person_id, role, reason, actor FROM desk_dispatch_log;
DROP TABLE desk_dispatch_log;
ALTER TABLE desk_dispatch_log_new RENAME TO desk_dispatch_log;
CREATE INDEX desk_dispatch_log_issue ON desk_dispatch_log(issue_id, id);
CREATE INDEX desk_dispatch_log_person ON desk_dispatch_log(person_id, at);
