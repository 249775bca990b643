-- An organization's role groups and its members' roles for an application
-- go when the organization loses the application; and the lookups that
-- deleting a role or a role group makes are index-backed.

ALTER TABLE organization_role_groups
    ADD FOREIGN KEY (tenant_id, organization_id, app_id)
        REFERENCES organization_apps (tenant_id, organization_id, app_id) ON DELETE CASCADE;
ALTER TABLE member_roles
    ADD FOREIGN KEY (tenant_id, organization_id, app_id)
        REFERENCES organization_apps (tenant_id, organization_id, app_id) ON DELETE CASCADE;

CREATE INDEX member_roles_role_idx ON member_roles (tenant_id, app_id, role_id);
CREATE INDEX organization_role_groups_group_idx
    ON organization_role_groups (tenant_id, app_id, group_id);
CREATE INDEX role_group_roles_role_idx ON role_group_roles (tenant_id, app_id, role_id);
