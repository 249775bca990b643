-- The statement idstore-baseline runs for this request (idstore's SQL for
-- reads), with pgbench variables from bench/run: -D users= -D tenant= -D app=.
-- Run with -M prepared: both servers use prepared statements too.
\set id random(1, :users)
-- @select_user
 WHERE u.tenant_id = :tenant AND u.email_normalized = 'user' || :id::text || '@example.com';
