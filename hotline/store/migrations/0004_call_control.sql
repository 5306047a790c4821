-- hotline schema, version 4: call control. Every call becomes a complete record: the route taken,
-- each attempt to reach someone (who, when, outcome), ring and talk time, the IVR choices, the
-- language and flow, the voicemail file. The issue gains the IVR's tags and a call-back flag (a
-- caller nobody answered, who left no message, or whom overload turned away); categories gain
-- the English name the IVR speaks.

ALTER TABLE calls ADD COLUMN flow TEXT;                     -- the IVR flow that handled the call
ALTER TABLE calls ADD COLUMN language TEXT;                 -- zh, en: the language the caller heard
ALTER TABLE calls ADD COLUMN menu TEXT NOT NULL DEFAULT '[]';      -- JSON: [{"node", "digit", "choice"}]
ALTER TABLE calls ADD COLUMN attempts TEXT NOT NULL DEFAULT '[]';  -- JSON: [{"target", "person", "at", "outcome", ...}]
ALTER TABLE calls ADD COLUMN ring_seconds REAL;             -- from arrival until someone answered (or the end)
ALTER TABLE calls ADD COLUMN talk_seconds REAL;             -- bridged to a person
ALTER TABLE calls ADD COLUMN voicemail TEXT;                -- WAV path of the message left

ALTER TABLE issues ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';     -- JSON array of short strings
ALTER TABLE issues ADD COLUMN call_back INTEGER NOT NULL DEFAULT 0 CHECK (call_back IN (0, 1));
CREATE INDEX issues_call_back ON issues(call_back) WHERE call_back = 1;

ALTER TABLE categories ADD COLUMN name_en TEXT;
