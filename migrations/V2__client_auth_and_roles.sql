-- Throttling of client authentication, and application roles.

-- Attempts in the current window count both failures and authentications
-- still being verified, so concurrent guesses cannot slip past the limit;
-- a success gives its attempt back.
ALTER TABLE clients
    ADD COLUMN auth_attempts      integer     NOT NULL DEFAULT 0,
    ADD COLUMN auth_window_start  timestamptz;

CREATE TABLE roles (
    tenant_id    text        NOT NULL,
    app_id       text        NOT NULL,
    role_id      text        NOT NULL,
    name         text        NOT NULL,
    description  text,
    permissions  jsonb       NOT NULL DEFAULT '[]',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, app_id, role_id),
    FOREIGN KEY (tenant_id, app_id) REFERENCES applications (tenant_id, app_id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX roles_name_key ON roles (tenant_id, app_id, name);
