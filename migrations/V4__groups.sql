-- Groups of users within a tenant, answered by the Users API's getUserGroups.

CREATE TABLE groups (
    tenant_id    text        NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    group_id     text        NOT NULL,
    name         text        NOT NULL,
    description  text,
    custom_data  jsonb       NOT NULL DEFAULT '{}',
    -- Millisecond precision: the wire carries epoch milliseconds, and a
    -- value read back must equal the one first answered.
    created_at   timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
    updated_at   timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
    PRIMARY KEY (tenant_id, group_id)
);
-- Named: the API maps its violation to 409 IdentifierIsTaken.
CREATE UNIQUE INDEX groups_name_key ON groups (tenant_id, name);

CREATE TABLE group_members (
    tenant_id   text        NOT NULL,
    group_id    text        NOT NULL,
    user_id     text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
    PRIMARY KEY (tenant_id, group_id, user_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, group_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id)  REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
);
-- getUserGroups looks memberships up by user.
CREATE INDEX group_members_user_idx ON group_members (tenant_id, user_id);
