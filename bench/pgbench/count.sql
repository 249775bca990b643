-- The statement idstore-baseline runs for this request (idstore's SQL for
-- reads), with pgbench variables from bench/run: -D users= -D tenant= -D app=.
-- Run with -M prepared: both servers use prepared statements too.
SELECT count(*) FROM users u
  LEFT JOIN user_apps ua
         ON ua.tenant_id = u.tenant_id AND ua.user_id = u.user_id AND ua.app_id = :app
 WHERE u.tenant_id = :tenant;
