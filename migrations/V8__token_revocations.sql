-- Tokens are checked offline (a signature and a lifetime), so taking one
-- back needs a list every replica reads: a subject's tokens issued before
-- `not_before` are refused. A row is useful only while such tokens could
-- still be unexpired; older rows are purged.
CREATE TABLE token_revocations (
    subject_kind text        NOT NULL CHECK (subject_kind IN ('client', 'user')),
    subject_id   text        NOT NULL,
    tenant_id    text        NOT NULL,
    not_before   timestamptz NOT NULL,
    -- When the row last changed: replicas read what changed since they last
    -- looked (clock_timestamp, not the transaction's start).
    recorded_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, subject_kind, subject_id)
);
CREATE INDEX token_revocations_recorded_idx ON token_revocations (recorded_at);
