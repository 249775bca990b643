-- The audit trail: one row per mutation, written in the mutation's own
-- transaction (so it commits if and only if the mutation does), and one
-- per refused permission. Rows name things by id and fields by name only:
-- no emails, phones, names, custom data values, secrets or hashes.
CREATE TABLE audit_events (
    tenant_id       text        NOT NULL,
    event_id        bigint      GENERATED ALWAYS AS IDENTITY,
    -- The writing transaction. Ids are handed out when a row is inserted,
    -- not when it commits, so a reader following `event_id` alone could
    -- pass an event whose transaction commits after a later-numbered one;
    -- readers order by (txn, event_id) and see only transactions older
    -- than every one still running, which no later commit can precede.
    txn             xid8        NOT NULL DEFAULT pg_current_xact_id(),
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    -- `admin`, `client`, `user`, `org_admin` (the token's kind) or `cli`.
    actor_kind      text        NOT NULL,
    actor_client_id text,
    actor_subject   text,
    request_id      text,
    -- The method and route pattern (`PUT /v1/users/{user_id}`), never the
    -- path, which carries emails and phone numbers; or the command.
    route           text,
    -- `<subject kind>.<verb>`, e.g. `user.update`, `access.denied`.
    action          text        NOT NULL,
    subject_id      text,
    -- The names of the fields the mutation changed.
    changed         text[]      NOT NULL DEFAULT '{}',
    -- Ids of related resources (a client's application, a group's members).
    refs            jsonb,
    -- No foreign keys: the trail outlives what it is about.
    PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX audit_events_read_idx ON audit_events (tenant_id, txn, event_id);
