-- Role groups: an application's roles bundled, attached to organizations;
-- a member may hold the roles of the groups its organization has for an
-- application, and only those.

CREATE TABLE role_groups (
    tenant_id     text        NOT NULL,
    app_id        text        NOT NULL,
    group_id      text        NOT NULL,
    name          text        NOT NULL,
    display_name  text,
    description   text,
    created_at    timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
    PRIMARY KEY (tenant_id, app_id, group_id),
    FOREIGN KEY (tenant_id, app_id) REFERENCES applications (tenant_id, app_id) ON DELETE CASCADE
);
-- Named: the API maps its violation to 409 IdentifierIsTaken.
CREATE UNIQUE INDEX role_groups_name_key ON role_groups (tenant_id, app_id, name);

CREATE TABLE role_group_roles (
    tenant_id  text NOT NULL,
    app_id     text NOT NULL,
    group_id   text NOT NULL,
    role_id    text NOT NULL,
    PRIMARY KEY (tenant_id, app_id, group_id, role_id),
    FOREIGN KEY (tenant_id, app_id, group_id)
        REFERENCES role_groups (tenant_id, app_id, group_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, app_id, role_id)
        REFERENCES roles (tenant_id, app_id, role_id) ON DELETE CASCADE
);

-- The role groups an organization has for an application.
CREATE TABLE organization_role_groups (
    tenant_id        text NOT NULL,
    organization_id  text NOT NULL,
    app_id           text NOT NULL,
    group_id         text NOT NULL,
    PRIMARY KEY (tenant_id, organization_id, app_id, group_id),
    FOREIGN KEY (tenant_id, organization_id)
        REFERENCES organizations (tenant_id, organization_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, app_id, group_id)
        REFERENCES role_groups (tenant_id, app_id, group_id) ON DELETE CASCADE
);

-- A member's roles, per application.
CREATE TABLE member_roles (
    tenant_id        text NOT NULL,
    organization_id  text NOT NULL,
    user_id          text NOT NULL,
    app_id           text NOT NULL,
    role_id          text NOT NULL,
    PRIMARY KEY (tenant_id, organization_id, user_id, app_id, role_id),
    FOREIGN KEY (tenant_id, organization_id, user_id)
        REFERENCES organization_members (tenant_id, organization_id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, app_id, role_id)
        REFERENCES roles (tenant_id, app_id, role_id) ON DELETE CASCADE
);

ALTER TABLE role_groups              ENABLE ROW LEVEL SECURITY;
ALTER TABLE role_group_roles         ENABLE ROW LEVEL SECURITY;
ALTER TABLE organization_role_groups ENABLE ROW LEVEL SECURITY;
ALTER TABLE member_roles             ENABLE ROW LEVEL SECURITY;
ALTER TABLE role_groups              FORCE ROW LEVEL SECURITY;
ALTER TABLE role_group_roles         FORCE ROW LEVEL SECURITY;
ALTER TABLE organization_role_groups FORCE ROW LEVEL SECURITY;
ALTER TABLE member_roles             FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON role_groups
    USING (tenant_id = current_setting('idstore.tenant_id', true));
CREATE POLICY tenant_isolation ON role_group_roles
    USING (tenant_id = current_setting('idstore.tenant_id', true));
CREATE POLICY tenant_isolation ON organization_role_groups
    USING (tenant_id = current_setting('idstore.tenant_id', true));
CREATE POLICY tenant_isolation ON member_roles
    USING (tenant_id = current_setting('idstore.tenant_id', true));
