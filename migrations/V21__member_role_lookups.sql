-- member_roles' lookup for deleting a role, with the role before the
-- application: an index led by (tenant_id, app_id) drew a member's
-- set-roles DELETE whenever the table's statistics were missing or stale
-- (it then read every member role of the application: 30 ms a request at
-- 50k roles, bench/members' set roles falling from 750/s to 140/s). The
-- member's own rows are the primary key's (tenant, organization, user, app).
CREATE INDEX member_roles_role_id_idx ON member_roles (tenant_id, role_id, app_id);
DROP INDEX member_roles_role_idx;
-- Written by DELETE and INSERT only: analyze it sooner than the default
-- 10 % of the table, so that plans follow its growth.
ALTER TABLE member_roles SET (autovacuum_analyze_scale_factor = 0.02,
                              autovacuum_vacuum_scale_factor = 0.05);
