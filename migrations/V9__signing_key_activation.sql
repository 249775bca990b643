-- A rotated-in key is published at once but signs only from activates_at,
-- once every verifier has re-read the published keys and knows it; until
-- then the key it replaces goes on signing. That key's retired_at is set to
-- the same moment, so it may lie in the future: a key signs while
-- activates_at <= now() < retired_at, and stays published until its last
-- token has expired.
ALTER TABLE signing_keys ADD COLUMN activates_at timestamptz;
UPDATE signing_keys SET activates_at = created_at;
ALTER TABLE signing_keys
    ALTER COLUMN activates_at SET NOT NULL,
    ALTER COLUMN activates_at SET DEFAULT now();
