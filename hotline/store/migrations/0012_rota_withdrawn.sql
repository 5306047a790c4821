-- hotline schema, version 12: an override or swap of the on-call rota can be withdrawn.
-- The row stays (who made it, when and why is history); the withdrawal records who took it
-- back, when and why, and the rota is built from the changes not withdrawn.

ALTER TABLE rota_changes ADD COLUMN withdrawn_at TEXT;
ALTER TABLE rota_changes ADD COLUMN withdrawn_by TEXT;
ALTER TABLE rota_changes ADD COLUMN withdraw_reason TEXT;
