-- The statement idstore-baseline runs for this request (idstore's SQL for
-- reads), with pgbench variables from bench/run: -D users= -D tenant= -D app=.
-- Run with -M prepared: both servers use prepared statements too.
-- Page 1 and its total_count: one "transaction" here is one list request.
SELECT count(*) FROM users u
  LEFT JOIN user_apps ua
         ON ua.tenant_id = u.tenant_id AND ua.user_id = u.user_id AND ua.app_id = :app
 WHERE u.tenant_id = :tenant;
-- @select_user
 WHERE u.tenant_id = :tenant ORDER BY u.created_at ASC, u.user_id ASC LIMIT 100 OFFSET 0;
