-- Create operations honour an `Idempotency-Key` header: the first answer
-- is kept and replayed to a retry with the same key and body, so a client
-- that lost a response can retry without creating twice.
CREATE TABLE idempotency_keys (
    tenant_id   text        NOT NULL,
    -- Whose key: the token's subject (keys of different callers never meet).
    principal   text        NOT NULL,
    key         text        NOT NULL,
    -- SHA-256 of the method, path and body the key was first used with.
    fingerprint bytea       NOT NULL,
    -- NULL while the first request is being served.
    status      smallint,
    body        bytea,
    started_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, principal, key)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);
