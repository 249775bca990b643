-- An organization's role groups for an application go when the
-- organization loses the application (its members' roles for it then count
-- no more: role_groups::backed!); and the lookups that deleting a role or a
-- role group makes are index-backed. member_roles gets no key to
-- organization_apps: every role write would share-lock the one row of the
-- organization's application (with it, bench/members measured set roles at
-- about 160 a second against 760 before).

ALTER TABLE organization_role_groups
    ADD FOREIGN KEY (tenant_id, organization_id, app_id)
        REFERENCES organization_apps (tenant_id, organization_id, app_id) ON DELETE CASCADE;

CREATE INDEX member_roles_role_idx ON member_roles (tenant_id, app_id, role_id);
CREATE INDEX organization_role_groups_group_idx
    ON organization_role_groups (tenant_id, app_id, group_id);
CREATE INDEX role_group_roles_role_idx ON role_group_roles (tenant_id, app_id, role_id);
