-- Indexes behind `GET /v1/users`: its sort orders and every predicate its
-- `search` filter accepts (crates/store/src/user_filter.rs says which index
-- serves which attribute and operator). A predicate no index here can serve
-- is refused with a 400 instead of scanning the tenant.
--
-- Each index slows every insert, so one index serves many predicates where
-- it can: multicolumn GIN indexes answer conditions on any subset of their
-- columns.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Sort orders of the list; user_id breaks ties so pages are deterministic.
-- (tenant_id, created_at, user_id) exists since V1.
CREATE INDEX users_email_sort_idx     ON users (tenant_id, email_normalized, user_id);
CREATE INDEX users_phone_sort_idx     ON users (tenant_id, phone_number, user_id);
CREATE INDEX users_last_auth_sort_idx ON users (tenant_id, last_auth, user_id);

-- `sw` and the list's `search_prefix`: LIKE 'abc%' can use a btree only in
-- the C collation or through text_pattern_ops. Typeahead prefixes are short,
-- where trigrams are poor, hence btrees for the two primary identifiers.
-- (The V1 unique keys keep serving eq and ranges in the database collation.)
CREATE INDEX users_email_prefix_idx   ON users (tenant_id, email_normalized text_pattern_ops);
CREATE INDEX users_phone_prefix_idx   ON users (tenant_id, phone_number text_pattern_ops);
CREATE INDEX users_user_id_prefix_idx ON users (tenant_id, user_id text_pattern_ops);

-- `co` and `ew` on identifiers, `sw` on username and external_user_id, and
-- case-insensitive eq/sw/co/ew on first and last names (pg_trgm >= 1.6
-- serves `=` too). The name expressions must stay textually identical to
-- the ones the filter compiler emits.
CREATE INDEX users_text_trgm_idx ON users USING gin (
    email_normalized              gin_trgm_ops,
    phone_number                  gin_trgm_ops,
    username_normalized           gin_trgm_ops,
    external_user_id              gin_trgm_ops,
    lower(name ->> 'first_name')  gin_trgm_ops,
    lower(name ->> 'last_name')   gin_trgm_ops
);

-- Containment (`@>`: custom data, secondary contacts and address equality)
-- and top-level key existence (`?`: `pr` on custom data, name and address
-- fields). jsonb_ops rather than jsonb_path_ops because path_ops cannot
-- answer `?`, and a path-only `@?` reads the whole index with either.
CREATE INDEX users_documents_idx ON users USING gin (
    custom_data,
    secondary_emails,
    secondary_phone_numbers,
    name,
    address
);
-- `secondary_emails pr`: few users have any, so these stay tiny and cost
-- nothing on the inserts of those who do not. The predicates must match the
-- compiler's text.
CREATE INDEX users_secondary_emails_present_idx
    ON users (tenant_id) WHERE secondary_emails <> '[]'::jsonb;
CREATE INDEX users_secondary_phone_numbers_present_idx
    ON users (tenant_id) WHERE secondary_phone_numbers <> '[]'::jsonb;

CREATE INDEX users_updated_at_idx        ON users (tenant_id, updated_at);
CREATE INDEX users_status_changed_at_idx ON users (tenant_id, status_changed_at);
CREATE INDEX users_birthday_idx          ON users (tenant_id, birthday);
CREATE INDEX users_status_idx            ON users (tenant_id, status);

-- The application's data on its users; (tenant_id, app_id, user_id) is the key.
CREATE INDEX user_apps_custom_app_data_idx ON user_apps USING gin (custom_app_data);
CREATE INDEX user_apps_external_account_id_idx
    ON user_apps (tenant_id, app_id, external_account_id text_pattern_ops);
