-- Client authentication is throttled per (client_id, source address), not
-- per client: a client_id is no secret, so counting its failures from
-- everywhere let anyone lock any client out. Unknown client ids are
-- counted the same way, so the throttle's answers reveal no ids; that is
-- why this table names no tenant (the caller's tenant is not known yet).
CREATE TABLE client_auth_throttle (
    client_id     text        NOT NULL,
    -- The caller's address (an IPv6 caller's /64).
    source        text        NOT NULL,
    -- Failures in the current streak, attempts still being checked included,
    -- so concurrent guesses cannot slip past the limit.
    failures      integer     NOT NULL,
    -- No attempt from this source is checked before this time.
    blocked_until timestamptz,
    last_attempt  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, source)
);
CREATE INDEX client_auth_throttle_last_idx ON client_auth_throttle (last_attempt);

ALTER TABLE clients
    DROP COLUMN auth_attempts,
    DROP COLUMN auth_window_start;
