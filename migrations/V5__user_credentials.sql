-- A user's password, set when the user is created with `credentials`.
-- PHC string (argon2id); the password itself is never stored.
ALTER TABLE users
    ADD COLUMN password_hash        text,
    -- The user must replace it at the next login (`force_replace`).
    ADD COLUMN password_temporary   boolean,
    ADD COLUMN password_updated_at  timestamptz;

-- getUserByIdentifier with idpIdentifier looks users up by an identity's
-- identifier (`identities @> [{"identifier": ...}]`).
CREATE INDEX users_identities_idx ON users USING gin (identities jsonb_path_ops);
