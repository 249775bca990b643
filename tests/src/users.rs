//! A tenant with two applications, ready for Users API tests: an admin
//! token, each application's client token, and calls that check every
//! response against the spec's schema for its operation.

use actix_web::http::Method;
use serde_json::{Value, json};

use crate::spec::idstore_spec;
use crate::{TestApp, TestDb, TestResponse};

pub struct World {
    pub app: TestApp,
    pub admin: String,
    /// Client token of application "shop".
    pub shop: String,
    pub shop_id: String,
    /// Client token of application "blog".
    pub blog: String,
    pub blog_id: String,
}

impl World {
    pub async fn new() -> Self {
        Self::with_config(|_| {}).await
    }

    /// As [`World::new`], with the configuration adjusted first.
    pub async fn with_config(adjust: impl FnOnce(&mut idstore_server::Config)) -> Self {
        let app = TestApp::spawn_with(adjust).await;
        let admin = app.admin_token().await;
        let (shop_id, shop_client) = app.create_app(&admin, "shop").await;
        let (blog_id, blog_client) = app.create_app(&admin, "blog").await;
        let shop = app.token_for(&shop_client).await;
        let blog = app.token_for(&blog_client).await;
        Self {
            app,
            admin,
            shop,
            shop_id,
            blog,
            blog_id,
        }
    }

    /// Calls an operation of the Users API and checks the answer against the
    /// spec's schema for `operation_id` and the status it came with.
    pub async fn op(
        &self,
        operation_id: &str,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> TestResponse {
        let res = self.app.call(method, path, Some(token), body).await;
        idstore_spec().assert_http_response(operation_id, &res);
        res
    }

    /// `createUser`, whatever it answers.
    pub async fn try_create(&self, token: &str, body: &Value) -> TestResponse {
        self.op("createUser", Method::POST, "/v1/users", token, Some(body))
            .await
    }

    /// `updateUser`, whatever it answers.
    pub async fn try_update(&self, token: &str, user_id: &str, body: &Value) -> TestResponse {
        let path = format!("/v1/users/{user_id}");
        self.op("updateUser", Method::PUT, &path, token, Some(body))
            .await
    }

    /// `createUser`, expected to succeed; the created user.
    pub async fn create(&self, token: &str, body: Value) -> Value {
        result(self.try_create(token, &body).await, 201)
    }

    /// `getUserById` with `token`, expected to succeed.
    pub async fn get(&self, token: &str, user_id: &str) -> Value {
        let path = format!("/v1/users/{user_id}");
        result(
            self.op("getUserById", Method::GET, &path, token, None)
                .await,
            200,
        )
    }

    /// `updateUser`, expected to succeed; the updated user.
    pub async fn update(&self, token: &str, user_id: &str, body: Value) -> Value {
        result(self.try_update(token, user_id, &body).await, 200)
    }

    /// `getUsers` with a query string; the whole body.
    pub async fn list(&self, token: &str, query: &str) -> TestResponse {
        self.op(
            "getUsers",
            Method::GET,
            &format!("/v1/users{query}"),
            token,
            None,
        )
        .await
    }

    /// User ids of a successful `getUsers`, in order.
    pub async fn list_ids(&self, token: &str, query: &str) -> Vec<String> {
        let res = self.list(token, query).await;
        assert_eq!(res.status, 200, "{query}: {}", res.text);
        ids(&res.json()["result"])
    }

    /// `getUsersCount` with a query string.
    pub async fn count(&self, token: &str, query: &str) -> i64 {
        let res = self
            .op(
                "getUsersCount",
                Method::GET,
                &format!("/v1/users/count{query}"),
                token,
                None,
            )
            .await;
        assert_eq!(res.status, 200, "{query}: {}", res.text);
        res.json()["result"]["user_count"].as_i64().unwrap()
    }

    /// Every user row and application association, as text: equal
    /// snapshots mean a request changed nothing.
    pub async fn snapshot(&self) -> String {
        let mut conn = self.app.db.connect().await;
        sqlx::query_scalar(
            "SELECT (SELECT coalesce(json_agg(u ORDER BY u.user_id), '[]') FROM users u)::text
                 || (SELECT coalesce(json_agg(a ORDER BY a.app_id, a.user_id), '[]') FROM user_apps a)::text",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap()
    }
}

/// The `result` of a response that must have `status`.
fn result(res: TestResponse, status: u16) -> Value {
    assert_eq!(res.status, status, "{}", res.text);
    res.json()["result"].clone()
}

/// The `user_id`s of a list of users.
pub fn ids(users: &Value) -> Vec<String> {
    users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap().to_owned())
        .collect()
}

/// A user body with a unique email (and whatever else `extra` adds).
pub fn user_body(email: &str, extra: Value) -> Value {
    let mut body = json!({ "email": email });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    body
}

/// The messages of a 400 body.
pub fn messages(res: &TestResponse) -> String {
    assert_eq!(res.status, 400, "expected a 400: {}", res.text);
    let body = res.json();
    assert_eq!(body["error_code"], 400, "{body}");
    body["message"]
        .as_array()
        .expect("400 messages are an array")
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Users as large as creates and updates may make them: custom_data and
/// the management application's custom_app_data at their 16 KiB, 20
/// secondary emails and 20 secondary phones, every name and address field
/// full, a 2 KB picture URL; about 40 KB of JSON each. One statement, so
/// that thousands take a second.
const MAXIMAL_USERS: &str = r#"
WITH made AS (
  INSERT INTO users (tenant_id, user_id, email, email_normalized, phone_number,
                     secondary_emails, secondary_phone_numbers, name, address, picture,
                     language, custom_data)
  SELECT $1, 'big' || lpad(g::text, 5, '0'), 'big' || g || '@x.example', 'big' || g || '@x.example',
         '+1212' || lpad(g::text, 7, '0'),
         (SELECT jsonb_agg(jsonb_build_object(
                   'value', 'alt' || k || '-' || repeat('a', 56) || '@' || repeat('d', 60) || g
                            || '.example',
                   'verified_at', NULL))
            FROM generate_series(1, 20) k),
         (SELECT jsonb_agg(jsonb_build_object(
                   'value', '+1646' || lpad((g * 20 + k)::text, 7, '0'), 'verified_at', NULL))
            FROM generate_series(1, 20) k),
         jsonb_build_object('first_name', repeat('f', 30), 'last_name', repeat('l', 30),
                            'middle_name', repeat('m', 30), 'title', repeat('t', 30)),
         jsonb_build_object('street_address', repeat('s', 150), 'city', repeat('c', 30),
                            'state', repeat('s', 30), 'country', repeat('c', 30),
                            'postal_code', repeat('p', 30)),
         'https://pictures.example/' || repeat('p', 2000),
         'en-US',
         jsonb_build_object('blob', repeat('x', 16370))
    FROM generate_series(1, $3::int) g
  RETURNING user_id)
INSERT INTO user_apps (tenant_id, app_id, user_id, custom_app_data)
SELECT $1, $2, user_id, jsonb_build_object('blob', repeat('y', 16370)) FROM made
"#;

/// Adds `n` users as large as the API lets users grow (see
/// [`MAXIMAL_USERS`]) to the tenant, with data of its management
/// application, so that an admin token sees every byte.
pub async fn seed_maximal_users(db: &TestDb, n: i64) {
    let mut conn = db.connect().await;
    let (tenant, app): (String, String) =
        sqlx::query_as("SELECT tenant_id, app_id FROM applications WHERE is_management")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    sqlx::query(MAXIMAL_USERS)
        .bind(tenant)
        .bind(app)
        .bind(i32::try_from(n).unwrap())
        .execute(&mut conn)
        .await
        .unwrap();
}
