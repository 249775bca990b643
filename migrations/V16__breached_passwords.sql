-- The breached-password filter `idstore breached import` loads: one per
-- installation, not per tenant (a breached password is breached for
-- everyone), so no tenant_id and no row-level security. The serving role
-- may only read it (crates/store/src/serving_role.rs revokes its writes);
-- the owner imports.
--
-- A filter for a billion entries is larger than one bytea may be (1 GB),
-- so the bits are stored in chunks, in order. An import replaces the row
-- and every chunk in one transaction: readers see the old filter or the
-- new one, never a mix.
CREATE TABLE breached_password_filter (
    -- One row at most.
    id                  boolean          PRIMARY KEY DEFAULT true CHECK (id),
    entries             bigint           NOT NULL CHECK (entries >= 0),
    false_positive_rate double precision NOT NULL CHECK (false_positive_rate > 0 AND false_positive_rate <= 0.5),
    bits                bigint           NOT NULL CHECK (bits > 0),
    hashes              integer          NOT NULL CHECK (hashes BETWEEN 1 AND 64),
    -- What replicas compare to learn of a new import.
    imported_at         timestamptz      NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE breached_password_chunks (
    seq  integer PRIMARY KEY CHECK (seq >= 0),
    data bytea   NOT NULL
);
