//! The password login as an application's backend drives it: an
//! application whose client may redirect to [`REDIRECT`], a login, the
//! code's exchange at `/oidc/token`.

use actix_web::http::Method;
use serde_json::{Value, json};

use crate::app::{ClientCredentials, TestApp, TestResponse};

/// The redirect URI test applications register.
pub const REDIRECT: &str = "https://app.example/callback";

/// A strong password no list holds.
pub const PASSWORD: &str = "violet-tractor-harbour-91";

/// An application that signs users in: its client and that client's token.
pub struct LoginApp {
    pub app_id: String,
    pub client: ClientCredentials,
    pub token: String,
}

impl TestApp {
    /// An application whose default client registers [`REDIRECT`].
    pub async fn login_app(&self, admin: &str, name: &str) -> LoginApp {
        let (app_id, client) = self.create_app(admin, name).await;
        let path = format!("/v1/applications/{app_id}/clients/{}", client.client_id);
        let res = self
            .with_body(
                Method::PUT,
                &path,
                admin,
                &json!({"redirect_uris": [REDIRECT]}),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        let token = self.token_for(&client).await;
        LoginApp {
            app_id,
            client,
            token,
        }
    }

    /// A user with `email` and `password` (not temporary); its id.
    pub async fn user_with_password(&self, token: &str, email: &str, password: &str) -> String {
        let body = json!({"email": email,
                          "credentials": {"password": password, "force_replace": false}});
        let res = self
            .with_body(Method::POST, "/v1/users", token, &body)
            .await;
        assert_eq!(res.status, 201, "{}", res.text);
        res.json()["result"]["user_id"].as_str().unwrap().to_owned()
    }

    /// `POST /v1/auth/password/login` naming the user by `email`.
    pub async fn login(&self, app: &LoginApp, email: &str, password: &str) -> TestResponse {
        self.login_with(app, json!({"email": email, "password": password}))
            .await
    }

    /// `POST /v1/auth/password/login` with `fields` plus the client and
    /// redirect URI.
    pub async fn login_with(&self, app: &LoginApp, mut fields: Value) -> TestResponse {
        fields["client_id"] = json!(app.client.client_id);
        if fields.get("redirect_uri").is_none() {
            fields["redirect_uri"] = json!(REDIRECT);
        }
        self.with_body(Method::POST, "/v1/auth/password/login", &app.token, &fields)
            .await
    }

    /// Exchanges a login's code at `/oidc/token`.
    pub async fn exchange(&self, app: &LoginApp, code: &str) -> TestResponse {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("client_id", app.client.client_id.as_str()),
            ("client_secret", app.client.client_secret.as_str()),
        ];
        self.token_request(&form, None).await
    }

    /// Renews tokens with a refresh token.
    pub async fn refresh(&self, app: &LoginApp, refresh_token: &str) -> TestResponse {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", app.client.client_id.as_str()),
            ("client_secret", app.client.client_secret.as_str()),
        ];
        self.token_request(&form, None).await
    }

    /// Logs in and exchanges the code: the token endpoint's answer.
    pub async fn sign_in(&self, app: &LoginApp, email: &str, password: &str) -> Value {
        let res = self.login(app, email, password).await;
        assert_eq!(res.status, 200, "{}", res.text);
        let res = self.exchange(app, &code_of(&res)).await;
        assert_eq!(res.status, 200, "{}", res.text);
        res.json()
    }
}

/// The `code` of a login's redirect URL.
pub fn code_of(res: &TestResponse) -> String {
    let url = res.json()["result"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("no url in {}", res.text))
        .to_owned();
    assert!(url.starts_with(REDIRECT), "{url}");
    url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code in {url}"))
}
