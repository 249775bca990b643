-- The vendor's Applications API: what idstore honours gets a column, what
-- it only keeps (descriptive settings it has no use for yet) is stored as
-- given in `settings`, an object of the vendor's field names.

ALTER TABLE applications
    -- The client whose token created the application.
    ADD COLUMN created_by text,
    ADD COLUMN settings   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(settings) = 'object');

ALTER TABLE clients
    ADD COLUMN description      text,
    -- Where a login may send the user back to; exact matches only.
    ADD COLUMN redirect_uris    text[]      NOT NULL DEFAULT '{}',
    -- The audiences (RFC 8707 resources) the client may ask a token for,
    -- besides idstore itself.
    ADD COLUMN resources        text[]      NOT NULL DEFAULT '{}',
    -- Seconds; NULL is the server's token lifetime.
    ADD COLUMN access_token_ttl integer CHECK (access_token_ttl > 0),
    ADD COLUMN updated_at       timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN settings         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(settings) = 'object');

ALTER TABLE roles
    ADD COLUMN display_name text;
