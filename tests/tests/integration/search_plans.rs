//! The search filter compiler against a real PostgreSQL: every filter
//! selects exactly the users it describes, and every predicate the compiler
//! accepts is answered from an index rather than a scan of the tenant.
//!
//! Five hand-made users (`h-*`) carry the interesting values; 20 000 filler
//! users (`f-*`) make index plans worth choosing, and are counted rather
//! than listed.

use idstore_domain::filter::{Filter, parse};
use idstore_domain::scope::Scope;
use idstore_store::user_filter::push_filter;
use idstore_store::users::{self, Page, Search, SortField};
use idstore_tests::TestDb;
use idstore_tests::db::fresh_database;
use sqlx::{Connection, PgConnection, Postgres, QueryBuilder};
use tokio::sync::OnceCell;

const TENANT: &str = "t-search";
const APP: &str = "app-search";

const FILLERS: i64 = 20_000;

/// The hand-made users; also one user_apps row of another application,
/// which must never be seen through `custom_app_data`.
const HAND_MADE: &str = r#"
INSERT INTO tenants (tenant_id, name) VALUES ('t-search', 'search'), ('t-other', 'other');
INSERT INTO applications (tenant_id, app_id, name)
VALUES ('t-search', 'app-search', 'search'), ('t-search', 'app-other', 'other');

INSERT INTO users (tenant_id, user_id, email, email_normalized, phone_number, username,
                   username_normalized, external_user_id, name, address, birthday, status,
                   status_changed_at, last_auth, custom_data, secondary_emails,
                   secondary_phone_numbers, created_at, updated_at)
VALUES
 ('t-search', 'h-ann', 'Ann@hand.test', 'ann@hand.test', '+14155550101', 'Ann.Smith', 'ann.smith',
  'EXT-ANN', '{"first_name": "Ann", "last_name": "Smith", "title": "Dr"}',
  '{"city": "Paris", "country": "FR", "postal_code": "75001"}', '1985-04-12', 'Active',
  NULL, '2024-01-02T03:04:05Z',
  '{"plan": "gold", "seats": 5, "beta": true, "prefs": {"theme": "dark", "lang": null}}',
  '[{"value": "ann.alt@hand.test", "verified_at": null}]', '[]',
  '2021-03-01T10:00:00.123Z', '2024-02-01T00:00:00Z'),
 ('t-search', 'h-bob', 'bob@hand.test', 'bob@hand.test', '+14155550102', 'bobby', 'bobby',
  NULL, '{"first_name": "Bob", "last_name": "Smithers"}', '{"city": "paris", "country": "FR"}',
  '1990-12-31', 'Disabled', '2023-05-05T00:00:00Z', NULL,
  '{"plan": "free", "seats": 10, "prefs": {"theme": "light"}}',
  '[]', '[{"value": "+14155559999", "verified_at": null}]',
  '2021-07-15T00:00:00Z', '2021-07-15T00:00:00Z'),
 ('t-search', 'h-cy', NULL, NULL, '+442071234567', NULL, NULL,
  NULL, '{"first_name": "Cy", "middle_name": "Q"}', NULL,
  NULL, 'Pending', NULL, NULL, '{}', '[]', '[]',
  '2022-01-01T00:00:00Z', '2022-01-01T00:00:00Z'),
 ('t-search', 'h-dee', 'dee_1@hand.test', 'dee_1@hand.test', NULL, 'Dee', 'dee',
  'ext-dee', '{"first_name": "DEE", "last_name": "O''Brien"}', NULL,
  '2001-01-01', 'Active', NULL, '2023-12-31T23:59:59Z',
  '{"plan": "gold", "prefs": {"theme": "dark"}}', '[]', '[]',
  '2022-02-02T00:00:00Z', '2022-02-02T00:00:00Z'),
 ('t-search', 'h-eve', 'deex1@hand.test', 'deex1@hand.test', NULL, 'eve', 'eve',
  NULL, '{"last_name": "smith"}', NULL,
  NULL, 'Active', NULL, NULL, '{"plan": null, "seats": 5.0}',
  '[{"value": "shared@hand.test", "verified_at": null}]', '[]',
  '2022-03-03T00:00:00Z', '2022-03-03T00:00:00Z');

INSERT INTO user_apps (tenant_id, app_id, user_id, external_account_id, custom_app_data)
VALUES ('t-search', 'app-search', 'h-ann', 'ACME-001', '{"role": {"name": "admin"}, "level": 3}'),
       ('t-search', 'app-search', 'h-bob', 'ACME-002', '{"role": {"name": "viewer"}}'),
       ('t-search', 'app-search', 'h-dee', NULL, '{}'),
       ('t-search', 'app-other', 'h-cy', 'ACME-003', '{"role": {"name": "admin"}}');

-- Another tenant's twin of ann: the tenant condition must keep it out.
INSERT INTO users (tenant_id, user_id, email, email_normalized, custom_data)
VALUES ('t-other', 'h-ann', 'ann@hand.test', 'ann@hand.test', '{"plan": "gold"}');
"#;

/// Fillers have an email, a phone and custom data, and nothing else the
/// hand-made users are searched by; 1 in 100 is Disabled, 1 in 5 has data
/// for the application and 1 in 100 an external account id there.
const FILLER_ROWS: &str = r#"
INSERT INTO users (tenant_id, user_id, email, email_normalized, phone_number, status,
                   custom_data, created_at, updated_at)
SELECT 't-search', 'f-' || g, 'filler' || g || '@bulk.example', 'filler' || g || '@bulk.example',
       '+1999' || lpad(g::text, 7, '0'),
       CASE WHEN g % 100 = 0 THEN 'Disabled' ELSE 'Active' END,
       '{"filler": true}',
       timestamptz '2023-01-01T00:00:00Z' + g * interval '1 minute',
       timestamptz '2023-01-01T00:00:00Z' + g * interval '1 minute'
FROM generate_series(1, 20000) g;

INSERT INTO user_apps (tenant_id, app_id, user_id, external_account_id, custom_app_data)
SELECT 't-search', 'app-search', 'f-' || g,
       CASE WHEN g % 100 = 0 THEN 'acc-' || g END, '{"tier": "basic"}'
FROM generate_series(5, 20000, 5) g;

"#;

/// Seeded once and shared: building it is most of this file's run time.
static SEEDED: OnceCell<TestDb> = OnceCell::const_new();

async fn seeded() -> PgConnection {
    let db = SEEDED
        .get_or_init(|| async {
            let db = fresh_database().await;
            let mut conn = db.connect().await;
            sqlx::raw_sql(HAND_MADE).execute(&mut conn).await.unwrap();
            sqlx::raw_sql(FILLER_ROWS).execute(&mut conn).await.unwrap();
            // What autovacuum does after a bulk load. Until then GIN keeps
            // new entries in a pending list that every search reads, and the
            // planner rightly prefers reading a 20 000-user tenant instead.
            for table in ["users", "user_apps"] {
                let vacuum = format!("VACUUM (ANALYZE) {table}");
                sqlx::raw_sql(sqlx::AssertSqlSafe(vacuum))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            db
        })
        .await;
    // As `serve` reads: the serving role, confined by row-level security
    // to the tenant (set for the session here; `serve` sets it per
    // transaction). The plans below are then the plans it gets, and a
    // predicate PostgreSQL may not evaluate before the policy shows up as a
    // scan of the tenant.
    let mut conn = PgConnection::connect_with(&db.serving_options())
        .await
        .expect("connect as the serving role");
    sqlx::query("SELECT set_config('idstore.tenant_id', $1, false)")
        .bind(TENANT)
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

/// The list query's shape: `$1` is the viewer's application, `$2` the tenant.
fn query(head: &str, filter: &str) -> QueryBuilder<Postgres> {
    let parsed = parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
    let mut qb = QueryBuilder::new(head);
    qb.push(
        " FROM users u LEFT JOIN user_apps ua \
         ON ua.tenant_id = u.tenant_id AND ua.user_id = u.user_id AND ua.app_id = ",
    );
    qb.push_bind(APP);
    qb.push(" WHERE u.tenant_id = ");
    qb.push_bind(TENANT);
    qb.push(" AND ");
    push_filter(&mut qb, &parsed).unwrap_or_else(|e| panic!("{filter}: {e}"));
    qb
}

/// The hand-made users found, sorted, and how many fillers came with them.
async fn search(conn: &mut PgConnection, filter: &str) -> (Vec<String>, i64) {
    let ids: Vec<String> = query("SELECT u.user_id", filter)
        .build_query_scalar()
        .fetch_all(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{filter}: {e}"));
    let fillers = ids.iter().filter(|id| id.starts_with("f-")).count() as i64;
    let mut hand: Vec<String> = ids.into_iter().filter(|id| id.starts_with("h-")).collect();
    hand.sort();
    (hand, fillers)
}

async fn plan(conn: &mut PgConnection, filter: &str) -> String {
    let lines: Vec<String> = query("EXPLAIN SELECT u.user_id", filter)
        .build_query_scalar()
        .fetch_all(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{filter}: {e}"));
    lines.join("\n")
}

/// (filter, hand-made users it selects, fillers it selects)
const SELECTIONS: &[(&str, &[&str], i64)] = &[
    // email: stored lower-cased, compared case-insensitively
    (r#"email eq "ANN@hand.test""#, &["ann"], 0),
    (
        r#"email ne "ann@hand.test""#,
        &["bob", "cy", "dee", "eve"],
        FILLERS,
    ),
    (r#"email co "x1@hand""#, &["eve"], 0),
    (r#"email sw "dee_""#, &["dee"], 0),
    (r#"email ew "@HAND.TEST""#, &["ann", "bob", "dee", "eve"], 0),
    (r#"email gt "d" and email lt "e""#, &["dee", "eve"], 0),
    (
        r#"email ge "bob@hand.test" and email le "bob@hand.test""#,
        &["bob"],
        0,
    ),
    ("email pr", &["ann", "bob", "dee", "eve"], FILLERS),
    ("email eq null", &["cy"], 0),
    // phone_number
    (r#"phone_number eq "+442071234567""#, &["cy"], 0),
    (r#"phone_number sw "+1415555""#, &["ann", "bob"], 0),
    (r#"phone_number co "442071""#, &["cy"], 0),
    (r#"phone_number ew "550102""#, &["bob"], 0),
    (r#"phone_number lt "+14155550102""#, &["ann"], 0),
    (r#"phone_number gt "+4""#, &["cy"], 0),
    ("phone_number eq null", &["dee", "eve"], 0),
    // username: lower-cased like email
    (r#"username eq "ANN.SMITH""#, &["ann"], 0),
    (r#"username sw "Bob""#, &["bob"], 0),
    (r#"username co "nn.sm""#, &["ann"], 0),
    (r#"username ew "BBY""#, &["bob"], 0),
    (
        r#"username ge "dee" and username le "eve""#,
        &["dee", "eve"],
        0,
    ),
    ("username pr", &["ann", "bob", "dee", "eve"], 0),
    // external_user_id: exact case
    (r#"external_user_id eq "EXT-ANN""#, &["ann"], 0),
    (r#"external_user_id eq "ext-ann""#, &[], 0),
    (r#"external_user_id sw "ext-""#, &["dee"], 0),
    (r#"external_user_id co "T-AN""#, &["ann"], 0),
    (r#"external_user_id ew "dee""#, &["dee"], 0),
    ("external_user_id pr", &["ann", "dee"], 0),
    // user_id
    (r#"user_id eq "h-bob""#, &["bob"], 0),
    (r#"user_id sw "h-""#, &["ann", "bob", "cy", "dee", "eve"], 0),
    (
        r#"user_id ge "h-" and user_id lt "h-c""#,
        &["ann", "bob"],
        0,
    ),
    (
        r#"user_id ne "h-bob" and user_id ge "h-" and user_id le "h-d""#,
        &["ann", "cy"],
        0,
    ),
    // status
    (r#"status eq "Pending""#, &["cy"], 0),
    (r#"status eq "Disabled""#, &["bob"], 200),
    (r#"status ne "Active""#, &["bob", "cy"], 200),
    // timestamps: RFC 3339 with offsets, bare dates, epoch milliseconds
    (r#"created_at lt "2022-01-01""#, &["ann", "bob"], 0),
    (
        r#"created_at le "2022-01-01T00:00:00Z""#,
        &["ann", "bob", "cy"],
        0,
    ),
    ("created_at eq 1614592800123", &["ann"], 0),
    (
        r#"created_at gt "2021-03-01T11:00:00.122+01:00" and created_at lt "2021-03-01T11:00:00.124+01:00""#,
        &["ann"],
        0,
    ),
    (r#"updated_at ge "2024-01-01""#, &["ann"], 0),
    (r#"last_auth gt "2024-01-01T00:00:00Z""#, &["ann"], 0),
    ("last_auth pr", &["ann", "dee"], 0),
    ("last_auth eq null", &["bob", "cy", "eve"], FILLERS),
    (
        r#"last_auth ne "2024-01-02T03:04:05Z""#,
        &["bob", "cy", "dee", "eve"],
        FILLERS,
    ),
    (r#"status_changed_at ge "2023-05-05""#, &["bob"], 0),
    ("status_changed_at pr", &["bob"], 0),
    // birthday
    (r#"birthday lt "1990-12-31""#, &["ann"], 0),
    (r#"birthday le "1990-12-31""#, &["ann", "bob"], 0),
    (r#"birthday eq "2001-01-01""#, &["dee"], 0),
    ("birthday pr", &["ann", "bob", "dee"], 0),
    // secondary contacts: any element
    (r#"secondary_emails eq "ANN.ALT@hand.test""#, &["ann"], 0),
    ("secondary_emails pr", &["ann", "eve"], 0),
    (
        r#"secondary_emails ne "shared@hand.test""#,
        &["ann", "bob", "cy", "dee"],
        FILLERS,
    ),
    (r#"secondary_phone_numbers eq "+14155559999""#, &["bob"], 0),
    ("secondary_phone_numbers pr", &["bob"], 0),
    (
        "secondary_phone_numbers eq null",
        &["ann", "cy", "dee", "eve"],
        FILLERS,
    ),
    // name: case-insensitive on first and last names
    (r#"name.first_name eq "ann""#, &["ann"], 0),
    (r#"name.first_name eq "Dee""#, &["dee"], 0),
    (r#"name.last_name eq "SMITH""#, &["ann", "eve"], 0),
    (r#"name.last_name sw "smith""#, &["ann", "bob", "eve"], 0),
    (r#"name.last_name co "'bri""#, &["dee"], 0),
    (r#"name.last_name ew "ERS""#, &["bob"], 0),
    (
        r#"name.first_name ne "ann""#,
        &["bob", "cy", "dee", "eve"],
        FILLERS,
    ),
    ("name.first_name pr", &["ann", "bob", "cy", "dee"], 0),
    ("name.middle_name pr", &["cy"], 0),
    ("name.title pr", &["ann"], 0),
    ("name.title eq null", &["bob", "cy", "dee", "eve"], FILLERS),
    // address: exact
    (r#"address.city eq "Paris""#, &["ann"], 0),
    (r#"address.city eq "paris""#, &["bob"], 0),
    (r#"address.postal_code pr"#, &["ann"], 0),
    (r#"address.country ne "FR""#, &["cy", "dee", "eve"], FILLERS),
    // custom_data: nested keys, every literal type, case-sensitive keys
    (r#"custom_data.plan eq "gold""#, &["ann", "dee"], 0),
    (r#"custom_data.Plan eq "gold""#, &[], 0),
    ("custom_data.seats eq 5", &["ann", "eve"], 0),
    ("custom_data.seats eq 5.0", &["ann", "eve"], 0),
    ("custom_data.beta eq true", &["ann"], 0),
    ("custom_data.filler eq true", &[], FILLERS),
    (r#"custom_data.prefs.theme eq "dark""#, &["ann", "dee"], 0),
    ("custom_data.prefs.theme pr", &["ann", "bob", "dee"], 0),
    ("custom_data.prefs.lang pr", &[], 0),
    ("custom_data.plan pr", &["ann", "bob", "dee"], 0),
    ("custom_data.plan eq null", &["cy", "eve"], FILLERS),
    (
        r#"custom_data.plan ne "gold""#,
        &["bob", "cy", "eve"],
        FILLERS,
    ),
    // custom_app_data: only the viewer's application; absent rows are NULL
    (r#"custom_app_data.role.name eq "admin""#, &["ann"], 0),
    (
        r#"custom_app_data.role.name ne "admin""#,
        &["bob", "cy", "dee", "eve"],
        FILLERS,
    ),
    (
        r#"not (custom_app_data.role.name eq "admin")"#,
        &["bob", "cy", "dee", "eve"],
        FILLERS,
    ),
    ("custom_app_data.level eq 3", &["ann"], 0),
    ("custom_app_data.role pr", &["ann", "bob"], 0),
    (
        "custom_app_data.role eq null",
        &["cy", "dee", "eve"],
        FILLERS,
    ),
    (r#"custom_app_data.tier eq "basic""#, &[], 4000),
    // external_account_id
    (r#"external_account_id eq "ACME-001""#, &["ann"], 0),
    (r#"external_account_id sw "ACME-""#, &["ann", "bob"], 0),
    ("external_account_id pr", &["ann", "bob"], 200),
    (
        r#"external_account_id ne "ACME-001""#,
        &["bob", "cy", "dee", "eve"],
        FILLERS,
    ),
    // and, or, not, parentheses, precedence
    (
        r#"email ew "@hand.test" and (status eq "Disabled" or name.first_name eq "dee")"#,
        &["bob", "dee"],
        0,
    ),
    (
        r#"username pr and not (custom_data.plan eq "gold")"#,
        &["bob", "eve"],
        0,
    ),
    (r#"not (not (email eq "ann@hand.test"))"#, &["ann"], 0),
    (
        r#"status eq "Pending" or status eq "Disabled" and email pr"#,
        &["bob", "cy"],
        200,
    ),
    (
        r#"(status eq "Pending" or status eq "Disabled") and phone_number sw "+44""#,
        &["cy"],
        0,
    ),
    (r#"NOT (email PR) AND PHONE_NUMBER SW "+44""#, &["cy"], 0),
    ("not (name.first_name pr or phone_number pr)", &["eve"], 0),
    // values that look like SQL are only values
    (r#"email eq "x' OR 1=1 --""#, &[], 0),
    (r#"custom_data.plan eq "gold\"} OR true""#, &[], 0),
];

#[actix_web::test]
async fn each_filter_selects_exactly_the_users_it_describes() {
    let mut conn = seeded().await;
    let mut wrong = vec![];
    for (filter, hand, fillers) in SELECTIONS {
        let expected: Vec<String> = hand.iter().map(|h| format!("h-{h}")).collect();
        let found = search(&mut conn, filter).await;
        if found != (expected.clone(), *fillers) {
            wrong.push(format!(
                "{filter}\n    expected {expected:?} + {fillers} fillers\n    found    {:?} + {} fillers",
                found.0, found.1
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// (filter, an index the plan must use, or `|`-separated alternatives).
/// Only selective, non-negated
/// predicates: for one matching most of the tenant, reading the table is
/// the right plan whatever indexes exist.
const INDEXED: &[(&str, &str)] = &[
    (r#"email eq "ann@hand.test""#, "users_email_"),
    (r#"email sw "dee_""#, "users_email_prefix_idx"),
    (r#"email co "x1@hand""#, "users_text_trgm_idx"),
    (r#"email ew "1@hand.test""#, "users_text_trgm_idx"),
    (r#"email gt "zz""#, "users_email_"),
    (r#"email ge "zz""#, "users_email_"),
    (r#"email lt "b""#, "users_email_"),
    (r#"email le "b""#, "users_email_"),
    (r#"phone_number eq "+442071234567""#, "users_phone_"),
    (
        r#"phone_number sw "+44""#,
        "users_phone_prefix_idx|users_text_trgm_idx",
    ),
    (r#"phone_number co "442071""#, "users_text_trgm_idx"),
    (r#"phone_number ew "550102""#, "users_text_trgm_idx"),
    (r#"phone_number gt "+4""#, "users_phone_"),
    (r#"phone_number le "+14155550101""#, "users_phone_"),
    (r#"username eq "ann.smith""#, "users_username_key"),
    (r#"username sw "bob""#, "users_text_trgm_idx"),
    (r#"username co "nn.sm""#, "users_text_trgm_idx"),
    (r#"username ew "bby""#, "users_text_trgm_idx"),
    (r#"username gt "b""#, "users_username_key"),
    ("username pr", "users_username_key"),
    (
        r#"external_user_id eq "EXT-ANN""#,
        "users_external_user_id_key",
    ),
    (r#"external_user_id sw "ext-""#, "users_text_trgm_idx"),
    (r#"external_user_id co "T-AN""#, "users_text_trgm_idx"),
    (r#"external_user_id ew "ANN""#, "users_text_trgm_idx"),
    (r#"external_user_id lt "F""#, "users_external_user_id_key"),
    ("external_user_id pr", "users_external_user_id_key"),
    (
        r#"user_id eq "h-bob""#,
        "users_pkey|users_user_id_prefix_idx",
    ),
    (r#"user_id sw "h-""#, "users_user_id_prefix_idx"),
    (r#"user_id gt "h-""#, "users_pkey"),
    (r#"user_id le "e""#, "users_pkey"),
    (r#"status eq "Pending""#, "users_status_idx"),
    (r#"created_at lt "2022-01-01""#, "users_created_at_idx"),
    ("created_at eq 1614592800123", "users_created_at_idx"),
    (r#"updated_at ge "2024-01-01""#, "users_updated_at_idx"),
    (
        r#"last_auth gt "2024-01-01T00:00:00Z""#,
        "users_last_auth_sort_idx",
    ),
    ("last_auth pr", "users_last_auth_sort_idx"),
    (
        r#"status_changed_at le "2023-05-05""#,
        "users_status_changed_at_idx",
    ),
    ("status_changed_at pr", "users_status_changed_at_idx"),
    (r#"birthday eq "2001-01-01""#, "users_birthday_idx"),
    (r#"birthday lt "1990-12-31""#, "users_birthday_idx"),
    ("birthday pr", "users_birthday_idx"),
    (
        r#"secondary_emails eq "ann.alt@hand.test""#,
        "users_documents_idx",
    ),
    ("secondary_emails pr", "users_secondary_emails_present_idx"),
    (
        r#"secondary_phone_numbers eq "+14155559999""#,
        "users_documents_idx",
    ),
    (
        "secondary_phone_numbers pr",
        "users_secondary_phone_numbers_present_idx",
    ),
    (r#"name.first_name eq "ann""#, "users_text_trgm_idx"),
    (r#"name.first_name sw "an""#, "users_text_trgm_idx"),
    (r#"name.last_name co "'bri""#, "users_text_trgm_idx"),
    (r#"name.last_name ew "ers""#, "users_text_trgm_idx"),
    ("name.first_name pr", "users_documents_idx"),
    ("name.middle_name pr", "users_documents_idx"),
    ("name.title pr", "users_documents_idx"),
    (r#"address.city eq "Paris""#, "users_documents_idx"),
    ("address.postal_code pr", "users_documents_idx"),
    (r#"custom_data.plan eq "gold""#, "users_documents_idx"),
    ("custom_data.seats eq 5", "users_documents_idx"),
    ("custom_data.beta eq true", "users_documents_idx"),
    (
        r#"custom_data.prefs.theme eq "dark""#,
        "users_documents_idx",
    ),
    ("custom_data.prefs.theme pr", "users_documents_idx"),
    (
        r#"custom_app_data.role.name eq "admin""#,
        "user_apps_custom_app_data_idx",
    ),
    ("custom_app_data.role pr", "user_apps_custom_app_data_idx"),
    (
        r#"external_account_id eq "ACME-001""#,
        "user_apps_external_account_id_idx",
    ),
    (
        r#"external_account_id sw "ACME""#,
        "user_apps_external_account_id_idx",
    ),
    (
        "external_account_id pr",
        "user_apps_external_account_id_idx",
    ),
    (r#"email sw "ann" or phone_number sw "+44""#, "BitmapOr"),
    (
        r#"status eq "Pending" and (name.first_name eq "cy" or custom_data.plan eq "gold")"#,
        "users_",
    ),
];

#[actix_web::test]
async fn each_supported_predicate_is_answered_from_an_index() {
    let mut conn = seeded().await;
    sqlx::raw_sql("SET enable_seqscan = off")
        .execute(&mut conn)
        .await
        .unwrap();
    let mut wrong = vec![];
    for (filter, index) in INDEXED {
        let plan = plan(&mut conn, filter).await;
        let indexed = index.split('|').any(|i| plan.contains(i));
        if !indexed || plan.contains("Seq Scan") {
            wrong.push(format!("{filter}: expected {index}\n{plan}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

/// A page of `filter`'s matches through `idstore_store::users`, as the list
/// endpoint reads it once the count came to `total`.
fn list_args(filter: &str) -> (Scope, Filter) {
    let parsed = parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
    (Scope::tenant(TENANT, APP), parsed)
}

fn page(sort: SortField, descending: bool, offset: i64, limit: i64) -> Page {
    Page {
        sort,
        descending,
        offset,
        limit,
    }
}

/// Eleven fillers start with "filler1234" (1234, 12340..12349). A planner
/// that thinks sorting dear (here: switched off, as an overestimate of the
/// matches makes it think in effect) would walk the created_at index past
/// all 20 000 users to fill the page; told the count, the page query finds
/// the eleven through the prefix index and sorts them.
#[actix_web::test]
async fn a_page_of_few_matches_is_found_through_the_search_index_not_the_sort_order() {
    let mut conn = seeded().await;
    sqlx::raw_sql("SET enable_sort = off")
        .execute(&mut conn)
        .await
        .unwrap();
    let (scope, filter) = list_args(r#"email sw "filler1234""#);
    let search = Search {
        filter: Some(&filter),
        prefix: None,
        organization_id: None,
    };
    let (total, rows) = (11, 20);
    let mut wrong = vec![];
    for sort in [
        SortField::CreatedAt,
        SortField::Email,
        SortField::PhoneNumber,
        SortField::LastAuth,
    ] {
        let plan = users::explain_page(
            &mut conn,
            &scope,
            &search,
            page(sort, false, 0, rows),
            total,
        )
        .await
        .unwrap();
        let sort_indexes = [
            "users_created_at_idx",
            "users_email_sort_idx",
            "users_phone_sort_idx",
            "users_last_auth_sort_idx",
        ];
        if !plan.contains("users_email_prefix_idx") || sort_indexes.iter().any(|i| plan.contains(i))
        {
            wrong.push(format!("{sort:?}:\n{plan}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));

    // Many matches: walking the sort order's index is the right plan, and
    // the one kept (20 000 fillers match "filler").
    let (scope, filter) = list_args(r#"email sw "filler""#);
    let search = Search {
        filter: Some(&filter),
        prefix: None,
        organization_id: None,
    };
    let plan = users::explain_page(
        &mut conn,
        &scope,
        &search,
        page(SortField::CreatedAt, false, 0, rows),
        FILLERS,
    )
    .await
    .unwrap();
    assert!(plan.contains("users_created_at_idx"), "{plan}");
}

/// Both forms of the page query give the same users in the same order, in
/// every sort order and direction: NULLs (cy has no email, dee and eve no
/// phone, nobody but ann and dee a last_auth) and ties broken by user_id.
#[actix_web::test]
async fn sorting_the_matches_orders_them_as_the_sort_index_does() {
    let mut conn = seeded().await;
    let mut wrong = vec![];
    for filter in [
        r#"user_id sw "h-""#,
        r#"email sw "filler1""#,
        r#"status ne "Pending""#,
    ] {
        let (scope, parsed) = list_args(filter);
        let search = Search {
            filter: Some(&parsed),
            prefix: None,
            organization_id: None,
        };
        for sort in [
            SortField::CreatedAt,
            SortField::Email,
            SortField::PhoneNumber,
            SortField::LastAuth,
        ] {
            for descending in [false, true] {
                for (offset, limit) in [(0, 5000), (100, 50)] {
                    let p = page(sort, descending, offset, limit);
                    let ids = |rows: Vec<users::UserRow>| -> Vec<String> {
                        rows.into_iter().map(|r| r.user_id).collect()
                    };
                    let sorted = ids(users::page_rows(&mut conn, &scope, &search, p, 0)
                        .await
                        .unwrap());
                    let walked = ids(users::page_rows(&mut conn, &scope, &search, p, i64::MAX)
                        .await
                        .unwrap());
                    if sorted != walked {
                        wrong.push(format!(
                            "{filter}, {sort:?}, descending {descending}, offset {offset}: \
                             sorted {:?}... walked {:?}...",
                            &sorted[..sorted.len().min(8)],
                            &walked[..walked.len().min(8)]
                        ));
                    }
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
