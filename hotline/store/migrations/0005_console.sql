-- hotline schema, version 5: the operator console's accounts and sessions. A person of the staff
-- list (people) may log in once an administrator gave them a password (hotline add-user); their
-- roles stay in people.roles. Sessions live on the server (logout and idle expiry are real); the
-- cookie carries a random token whose SHA-256 is the row's id, so a copy of the database cannot
-- be replayed as a cookie. Console actions that touch no issue (logins, user changes) are audited
-- in console_audit; changes to issues are audited in issue_events as before.

CREATE TABLE accounts (
    person_id           TEXT PRIMARY KEY REFERENCES people(id),
    password_hash       TEXT NOT NULL,           -- scrypt$n$r$p$salt$hash (hotline.console.passwords)
    language            TEXT NOT NULL DEFAULT 'zh' CHECK (language IN ('zh', 'en')),
    desk_phone          TEXT,                    -- the user's own phone, rung first for a call back
    created_at          TEXT NOT NULL,
    password_changed_at TEXT NOT NULL
);

CREATE TABLE web_sessions (
    id          TEXT PRIMARY KEY,                -- hex SHA-256 of the cookie's token
    person_id   TEXT NOT NULL REFERENCES people(id),
    csrf        TEXT NOT NULL,                   -- the token every state-changing request must carry
    created_at  TEXT NOT NULL,
    last_seen   TEXT NOT NULL,
    address     TEXT NOT NULL DEFAULT '',
    user_agent  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX web_sessions_person ON web_sessions(person_id);
CREATE INDEX web_sessions_seen ON web_sessions(last_seen);

CREATE TABLE console_audit (
    id       INTEGER PRIMARY KEY,
    at       TEXT NOT NULL,
    actor    TEXT NOT NULL,                      -- person id, or the login name tried
    action   TEXT NOT NULL,                      -- login, login_failed, logout, add_user, password, language
    detail   TEXT NOT NULL DEFAULT '',
    address  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX console_audit_at ON console_audit(at);

CREATE TRIGGER console_audit_no_update BEFORE UPDATE ON console_audit
BEGIN SELECT RAISE(ABORT, 'console_audit is append-only'); END;
CREATE TRIGGER console_audit_no_delete BEFORE DELETE ON console_audit
BEGIN SELECT RAISE(ABORT, 'console_audit is append-only'); END;
