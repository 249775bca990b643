-- Row-level security on every table that holds a tenant's rows, as defence
-- in depth behind the tenant predicate every query carries: a statement
-- sees and writes only the rows of the tenant its transaction names with
-- set_config('idstore.tenant_id', ..., true) (crates/store/src/tenancy.rs).
-- FORCE makes the tables' owner obey the policies too, so serving as the
-- owner is no way around them; only a superuser or a BYPASSRLS role is
-- (the migrations and the owner's commands, run as such, are unaffected).
--
-- An unset setting reads as '' or NULL, which matches no tenant.

ALTER TABLE tenants           ENABLE ROW LEVEL SECURITY;
ALTER TABLE applications      ENABLE ROW LEVEL SECURITY;
ALTER TABLE clients           ENABLE ROW LEVEL SECURITY;
ALTER TABLE signing_keys      ENABLE ROW LEVEL SECURITY;
ALTER TABLE users             ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_apps         ENABLE ROW LEVEL SECURITY;
ALTER TABLE roles             ENABLE ROW LEVEL SECURITY;
ALTER TABLE groups            ENABLE ROW LEVEL SECURITY;
ALTER TABLE group_members     ENABLE ROW LEVEL SECURITY;
ALTER TABLE token_revocations ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events      ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys  ENABLE ROW LEVEL SECURITY;

ALTER TABLE tenants           FORCE ROW LEVEL SECURITY;
ALTER TABLE applications      FORCE ROW LEVEL SECURITY;
ALTER TABLE clients           FORCE ROW LEVEL SECURITY;
ALTER TABLE signing_keys      FORCE ROW LEVEL SECURITY;
ALTER TABLE users             FORCE ROW LEVEL SECURITY;
ALTER TABLE user_apps         FORCE ROW LEVEL SECURITY;
ALTER TABLE roles             FORCE ROW LEVEL SECURITY;
ALTER TABLE groups            FORCE ROW LEVEL SECURITY;
ALTER TABLE group_members     FORCE ROW LEVEL SECURITY;
ALTER TABLE token_revocations FORCE ROW LEVEL SECURITY;
ALTER TABLE audit_events      FORCE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys  FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON tenants
    USING (tenant_id = current_setting('idstore.tenant_id', true));
CREATE POLICY tenant_isolation ON applications
    USING (tenant_id = current_setting('idstore.tenant_id', true));
CREATE POLICY tenant_isolation ON clients
    USING (tenant_id = current_setting('idstore.tenant_id', true));
CREATE POLICY tenant_isolation ON signing_keys
    USING (tenant_id = current_setting('idstore.tenant_id', true));
CREATE POLICY tenant_isolation ON users
    USING (tenant_id = current_setting('idstore.tenant_id', true));
CREATE POLICY tenant_isolation ON user_apps
    USING (tenant_id = current_setting('idstore.tenant_id', true));
CREATE POLICY tenant_isolation ON roles
    USING (tenant_id = current_setting('idstore.tenant_id', true));
CREATE POLICY tenant_isolation ON groups
    USING (tenant_id = current_setting('idstore.tenant_id', true));
CREATE POLICY tenant_isolation ON group_members
    USING (tenant_id = current_setting('idstore.tenant_id', true));
CREATE POLICY tenant_isolation ON token_revocations
    USING (tenant_id = current_setting('idstore.tenant_id', true));
CREATE POLICY tenant_isolation ON audit_events
    USING (tenant_id = current_setting('idstore.tenant_id', true));
CREATE POLICY tenant_isolation ON idempotency_keys
    USING (tenant_id = current_setting('idstore.tenant_id', true));

-- What the service itself must read whole, in a transaction that says so
-- with set_config('idstore.all_tenants', 'on', true): every replica
-- verifies every tenant's tokens (signing keys, revocations) and purges
-- what expired; the owner's commands find the tenants. Read-only, except
-- the purges, and nothing of users, applications, clients or audit.
CREATE POLICY service_read ON tenants FOR SELECT
    USING (current_setting('idstore.all_tenants', true) = 'on');
CREATE POLICY service_read ON signing_keys FOR SELECT
    USING (current_setting('idstore.all_tenants', true) = 'on');
CREATE POLICY service_read ON token_revocations FOR SELECT
    USING (current_setting('idstore.all_tenants', true) = 'on');
CREATE POLICY service_purge ON token_revocations FOR DELETE
    USING (current_setting('idstore.all_tenants', true) = 'on');
CREATE POLICY service_purge ON idempotency_keys FOR DELETE
    USING (current_setting('idstore.all_tenants', true) = 'on' AND expires_at < now());
CREATE POLICY service_read ON idempotency_keys FOR SELECT
    USING (current_setting('idstore.all_tenants', true) = 'on' AND expires_at < now());

-- /oidc/token learns the tenant from the client it authenticates: the
-- transaction names the client_id presented, and sees that client alone.
CREATE POLICY presented_client ON clients FOR SELECT
    USING (client_id = current_setting('idstore.client_id', true));
