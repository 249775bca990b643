-- Organizations (the vendor's Organizations API): the business customers
-- and partners of a tenant, the applications their members may use, and
-- their memberships.

CREATE TABLE organizations (
    tenant_id        text        NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    organization_id  text        NOT NULL,
    name             text        NOT NULL,
    domains          text[]      NOT NULL DEFAULT '{}',
    enabled          boolean     NOT NULL DEFAULT true,
    alias_name       text,
    -- Millisecond precision: the wire carries epoch milliseconds.
    created_at       timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
    updated_at       timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
    PRIMARY KEY (tenant_id, organization_id)
);
-- Named: the API maps its violation to 409 IdentifierIsTaken.
CREATE UNIQUE INDEX organizations_name_key ON organizations (tenant_id, name);

-- The applications an organization's members may use.
CREATE TABLE organization_apps (
    tenant_id        text        NOT NULL,
    organization_id  text        NOT NULL,
    app_id           text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
    PRIMARY KEY (tenant_id, organization_id, app_id),
    FOREIGN KEY (tenant_id, organization_id)
        REFERENCES organizations (tenant_id, organization_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, app_id) REFERENCES applications (tenant_id, app_id) ON DELETE CASCADE
);
CREATE INDEX organization_apps_app_idx ON organization_apps (tenant_id, app_id);

-- A user's membership of an organization: deleting either ends it.
CREATE TABLE organization_members (
    tenant_id        text        NOT NULL,
    organization_id  text        NOT NULL,
    user_id          text        NOT NULL,
    enabled          boolean     NOT NULL DEFAULT true,
    department       text,
    title            text,
    manager          text,
    -- getUsers' sort_field=organization_added_at.
    added_at         timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
    PRIMARY KEY (tenant_id, organization_id, user_id),
    FOREIGN KEY (tenant_id, organization_id)
        REFERENCES organizations (tenant_id, organization_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
);
-- A user's organizations, and an organization's members in the order added.
CREATE INDEX organization_members_user_idx ON organization_members (tenant_id, user_id);
CREATE INDEX organization_members_added_idx
    ON organization_members (tenant_id, organization_id, added_at, user_id);

ALTER TABLE organizations        ENABLE ROW LEVEL SECURITY;
ALTER TABLE organization_apps    ENABLE ROW LEVEL SECURITY;
ALTER TABLE organization_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE organizations        FORCE ROW LEVEL SECURITY;
ALTER TABLE organization_apps    FORCE ROW LEVEL SECURITY;
ALTER TABLE organization_members FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON organizations
    USING (tenant_id = current_setting('idstore.tenant_id', true));
CREATE POLICY tenant_isolation ON organization_apps
    USING (tenant_id = current_setting('idstore.tenant_id', true));
CREATE POLICY tenant_isolation ON organization_members
    USING (tenant_id = current_setting('idstore.tenant_id', true));
