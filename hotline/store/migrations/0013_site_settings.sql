-- hotline schema, version 13: settings changed in the console, which replace the configuration
-- file's while they are set (the first: the weekly working hours). One row per setting, its
-- value as JSON, with who set it and when (the audit log has the history).

CREATE TABLE site_settings (
    name        TEXT PRIMARY KEY,
    value       TEXT NOT NULL,      -- JSON
    updated_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL
);
