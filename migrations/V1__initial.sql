-- idstore schema, version 1: tenancy, clients, signing keys, users.
-- Every primary key starts with tenant_id so the schema can later be
-- distributed by tenant (Citus) and no query can forget the tenant.
-- Never edit this file once released: add V2__... instead.

CREATE TABLE tenants (
    tenant_id   text        PRIMARY KEY,
    name        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE applications (
    tenant_id     text        NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    app_id        text        NOT NULL,
    name          text        NOT NULL,
    description   text,
    -- The management application's clients mint admin tokens for the tenant.
    is_management boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, app_id)
);
CREATE UNIQUE INDEX applications_management_key ON applications (tenant_id) WHERE is_management;

CREATE TABLE clients (
    tenant_id    text        NOT NULL,
    client_id    text        NOT NULL,
    app_id       text        NOT NULL,
    name         text        NOT NULL,
    -- PHC string; the secret itself is shown once at creation and never stored.
    secret_hash  text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    rotated_at   timestamptz,
    PRIMARY KEY (tenant_id, client_id),
    FOREIGN KEY (tenant_id, app_id) REFERENCES applications (tenant_id, app_id) ON DELETE CASCADE
);
-- The token endpoint receives a bare client_id, so it must identify one client.
CREATE UNIQUE INDEX clients_client_id_key ON clients (client_id);

CREATE TABLE signing_keys (
    tenant_id           text        NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    kid                 text        NOT NULL,
    algorithm           text        NOT NULL CHECK (algorithm = 'EdDSA'),
    public_key          bytea       NOT NULL,
    -- Encrypted with the key-encryption key from configuration.
    private_key_sealed  bytea       NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    -- Set when a newer key takes over signing; the public key stays published
    -- until every token it signed has expired.
    retired_at          timestamptz,
    PRIMARY KEY (tenant_id, kid)
);
CREATE UNIQUE INDEX signing_keys_kid_key ON signing_keys (kid);

CREATE TABLE users (
    tenant_id                text        NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    user_id                  text        NOT NULL,
    email                    text,
    -- Lower-cased primary email: uniqueness and search compare on it.
    email_normalized         text,
    email_verified_at        timestamptz,
    -- E.164.
    phone_number             text,
    phone_verified_at        timestamptz,
    username                 text,
    username_normalized      text,
    external_user_id         text,
    -- [{"value": ..., "verified_at": ...}]; not unique, promotion re-checks.
    secondary_emails         jsonb       NOT NULL DEFAULT '[]',
    secondary_phone_numbers  jsonb       NOT NULL DEFAULT '[]',
    name                     jsonb,
    address                  jsonb,
    birthday                 date,
    picture                  text,
    language                 text,
    custom_data              jsonb       NOT NULL DEFAULT '{}',
    identities               jsonb       NOT NULL DEFAULT '[]',
    delegated_access         jsonb,
    status                   text        NOT NULL DEFAULT 'Active'
                                         CHECK (status IN ('Active', 'Disabled', 'Pending')),
    status_changed_at        timestamptz,
    last_auth                timestamptz,
    -- Optimistic concurrency for updates.
    version                  bigint      NOT NULL DEFAULT 1,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id)
);
-- Named constraints: the API maps a violation of each to 409 IdentifierIsTaken.
CREATE UNIQUE INDEX users_email_key            ON users (tenant_id, email_normalized);
CREATE UNIQUE INDEX users_phone_number_key     ON users (tenant_id, phone_number);
CREATE UNIQUE INDEX users_username_key         ON users (tenant_id, username_normalized);
CREATE UNIQUE INDEX users_external_user_id_key ON users (tenant_id, external_user_id);
CREATE INDEX users_created_at_idx              ON users (tenant_id, created_at, user_id);

-- A user's association with an application, and that application's data on it.
CREATE TABLE user_apps (
    tenant_id            text        NOT NULL,
    app_id               text        NOT NULL,
    user_id              text        NOT NULL,
    external_account_id  text,
    custom_app_data      jsonb       NOT NULL DEFAULT '{}',
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, app_id, user_id),
    FOREIGN KEY (tenant_id, app_id)  REFERENCES applications (tenant_id, app_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
);
CREATE INDEX user_apps_user_idx ON user_apps (tenant_id, user_id);
