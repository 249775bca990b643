-- The statement idstore-baseline runs for this request (idstore's SQL for
-- reads), with pgbench variables from bench/run: -D users= -D tenant= -D app=.
-- Run with -M prepared: both servers use prepared statements too.
\set id random(1, :users)
\set n random(1, 1000000)
UPDATE users SET custom_data = custom_data || jsonb_build_object('bench_t', 0, 'bench_n', :n::int),
                 updated_at = now()
 WHERE tenant_id = :tenant AND user_id = 'seed' || lpad(:id::text, 9, '0')
RETURNING user_id, email, email_verified_at, phone_number, phone_verified_at,
    username, external_user_id, secondary_emails, secondary_phone_numbers, name, address,
    birthday, picture, language, custom_data, identities, status, status_changed_at, last_auth,
    created_at, updated_at, password_temporary, password_updated_at;
