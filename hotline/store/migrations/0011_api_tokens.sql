-- hotline schema, version 11: the JSON API's bearer tokens and the issue-event webhook relay.
-- A token is a random secret shown once by `hotline add-token`; only its SHA-256 is kept (a
-- random 256-bit secret needs no slow hash). It acts for its person with that person's roles,
-- narrowed to `roles` when given; revoked and expired tokens stay for the audit trail.

CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,              -- hex SHA-256 of the secret
    person_id   TEXT NOT NULL REFERENCES people(id),
    name        TEXT NOT NULL DEFAULT '',          -- what it is for ("monitoring", "mail gateway")
    roles       TEXT,                              -- JSON list narrowing the person's roles; NULL: all
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    expires_at  TEXT,                              -- NULL: never
    revoked_at  TEXT,
    revoked_by  TEXT,
    last_used_at TEXT
);
CREATE INDEX api_tokens_person ON api_tokens(person_id);

-- How far the webhook relay has turned issue_events into outbox rows (one row, id = 1): the
-- enqueue and the move of the cursor are one transaction, so every event is delivered at least once.
CREATE TABLE api_webhook_cursor (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    last_event  INTEGER NOT NULL
);
