-- Passwords, their policy, and the password login (issue: the credential
-- half of the directory). Every table holds one tenant's rows and is
-- confined by row-level security like the others (V14).

-- The password policy of a tenant (app_id NULL) or one application's
-- override of it. The document is idstore's own shape
-- (crates/auth/src/password_policy.rs); a missing row is the default.
CREATE TABLE password_policies (
    tenant_id  text        NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    app_id     text,
    policy     jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (tenant_id, app_id),
    FOREIGN KEY (tenant_id, app_id) REFERENCES applications (tenant_id, app_id) ON DELETE CASCADE
);

-- Every password a user has had, the current one included, newest first by
-- set_at: the policy's history depth blocks the newest N.
CREATE TABLE password_history (
    tenant_id     text        NOT NULL,
    user_id       text        NOT NULL,
    set_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    password_hash text        NOT NULL,
    PRIMARY KEY (tenant_id, user_id, set_at),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
);

-- The password login's one-time secrets, stored as SHA-256 digests only:
-- an authorization code (kind 'code', exchanged at /oidc/token) or a
-- reset ticket (kind 'reset', when the password must be changed first).
-- Bound to the client, its redirect URI and the user; used once.
CREATE TABLE login_tickets (
    tenant_id    text        NOT NULL,
    ticket_hash  bytea       NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('code', 'reset')),
    user_id      text        NOT NULL,
    client_id    text        NOT NULL,
    redirect_uri text        NOT NULL,
    org_id       text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    PRIMARY KEY (tenant_id, ticket_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, client_id) ON DELETE CASCADE
);
CREATE INDEX login_tickets_expires_idx ON login_tickets (expires_at);

-- Refresh tokens, as SHA-256 digests. Each use rotates the token: the row is
-- marked used and a new one of the same family issued. A used token
-- presented again means it was stolen: the whole family is revoked.
CREATE TABLE refresh_tokens (
    tenant_id   text        NOT NULL,
    token_hash  bytea       NOT NULL,
    family_id   text        NOT NULL,
    user_id     text        NOT NULL,
    client_id   text        NOT NULL,
    org_id      text,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz,
    PRIMARY KEY (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, client_id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (tenant_id, family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (tenant_id, user_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

-- A user's device public keys (JWK, Ed25519 or P-256), for /users/me/device-keys.
CREATE TABLE device_keys (
    tenant_id    text        NOT NULL,
    key_id       text        NOT NULL,
    user_id      text        NOT NULL,
    public_jwk   jsonb       NOT NULL,
    status       text        NOT NULL DEFAULT 'Active' CHECK (status IN ('Active', 'Blocked', 'Suspended')),
    display_name text,
    custom_data  jsonb       NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
);
CREATE INDEX device_keys_user_idx ON device_keys (tenant_id, user_id, created_at);

-- Passwords that were set before this migration start the history
-- (before row-level security applies to the new table).
INSERT INTO password_history (tenant_id, user_id, set_at, password_hash)
SELECT tenant_id, user_id, COALESCE(password_updated_at, now()), password_hash
  FROM users WHERE password_hash IS NOT NULL;

ALTER TABLE password_policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE password_history  ENABLE ROW LEVEL SECURITY;
ALTER TABLE login_tickets     ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens    ENABLE ROW LEVEL SECURITY;
ALTER TABLE device_keys       ENABLE ROW LEVEL SECURITY;
ALTER TABLE password_policies FORCE ROW LEVEL SECURITY;
ALTER TABLE password_history  FORCE ROW LEVEL SECURITY;
ALTER TABLE login_tickets     FORCE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens    FORCE ROW LEVEL SECURITY;
ALTER TABLE device_keys       FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON password_policies
    USING (tenant_id = current_setting('idstore.tenant_id', true));
CREATE POLICY tenant_isolation ON password_history
    USING (tenant_id = current_setting('idstore.tenant_id', true));
CREATE POLICY tenant_isolation ON login_tickets
    USING (tenant_id = current_setting('idstore.tenant_id', true));
CREATE POLICY tenant_isolation ON refresh_tokens
    USING (tenant_id = current_setting('idstore.tenant_id', true));
CREATE POLICY tenant_isolation ON device_keys
    USING (tenant_id = current_setting('idstore.tenant_id', true));
-- Expired tickets and refresh tokens are purged across tenants by the
-- service (like expired idempotency keys; a DELETE with a WHERE must see
-- the rows it deletes, hence the SELECT policies).
CREATE POLICY service_purge ON login_tickets FOR DELETE
    USING (current_setting('idstore.all_tenants', true) = 'on' AND expires_at < now());
CREATE POLICY service_purge ON refresh_tokens FOR DELETE
    USING (current_setting('idstore.all_tenants', true) = 'on' AND expires_at < now());

CREATE POLICY service_read ON login_tickets FOR SELECT
    USING (current_setting('idstore.all_tenants', true) = 'on' AND expires_at < now());
CREATE POLICY service_read ON refresh_tokens FOR SELECT
    USING (current_setting('idstore.all_tenants', true) = 'on' AND expires_at < now());
