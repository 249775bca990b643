-- The user SELECT idstore runs for reads (crates/store/src/users.rs,
-- select_users!), without its WHERE: bench/run puts it where a scenario
-- script says `-- @select_user`.
SELECT u.user_id, u.email, u.email_verified_at, u.phone_number, u.phone_verified_at,
       u.username, u.external_user_id, u.secondary_emails, u.secondary_phone_numbers,
       u.name, u.address, u.birthday, u.picture, u.language, u.custom_data, u.identities,
       u.status,
       u.status_changed_at, u.last_auth, u.created_at, u.updated_at,
       u.password_temporary, u.password_updated_at,
       a.name AS app_name, ua.external_account_id, ua.custom_app_data,
       ARRAY(SELECT gm.group_id FROM group_members gm
              WHERE gm.tenant_id = u.tenant_id AND gm.user_id = u.user_id
              ORDER BY gm.group_id) AS group_ids
  FROM users u
  LEFT JOIN user_apps ua
         ON ua.tenant_id = u.tenant_id AND ua.user_id = u.user_id AND ua.app_id = :app
  LEFT JOIN applications a ON a.tenant_id = ua.tenant_id AND a.app_id = ua.app_id
