-- The statement idstore-baseline runs for this request (idstore's SQL for
-- reads), with pgbench variables from bench/run: -D users= -D tenant= -D app=.
-- Run with -M prepared: both servers use prepared statements too.
-- Emails start with "pgb-" so bench/run can delete what the run created.
INSERT INTO users (tenant_id, user_id, email, email_normalized)
SELECT :tenant, k, 'pgb-' || k || '@example.com', 'pgb-' || k || '@example.com'
  FROM (SELECT replace(gen_random_uuid()::text, '-', '') AS k) fresh
RETURNING user_id, email, email_verified_at, phone_number, phone_verified_at,
    username, external_user_id, secondary_emails, secondary_phone_numbers, name, address,
    birthday, picture, language, custom_data, identities, status, status_changed_at, last_auth,
    created_at, updated_at, password_temporary, password_updated_at;
