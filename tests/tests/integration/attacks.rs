//! Forged and misused tokens against the real extractor. (The verifier's
//! own unit tests cover the same attacks one by one; these show that the
//! HTTP path refuses them too.)

use actix_web::http::Method;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use idstore_auth::principal::TokenKind;
use idstore_tests::TestApp;
use idstore_tests::tokens::{claims_like, read_claims, sign, signing_key};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

/// A change to a token's claims.
type Mutation = Box<dyn Fn(&mut idstore_auth::Claims)>;

async fn status_with(app: &TestApp, token: &str) -> u16 {
    let res = app.with_token(Method::GET, "/v1/applications", token).await;
    if res.status == 401 {
        assert_eq!(res.json()["error_code"], 401, "{}", res.text);
        assert_eq!(res.header("www-authenticate"), Some("Bearer"));
    }
    res.status.as_u16()
}

#[actix_web::test]
async fn forged_tampered_and_stale_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let real = app.admin_token().await;
    assert_eq!(status_with(&app, &real).await, 200);
    let claims = read_claims(&real);
    let (kid, private) = signing_key(&mut app.db.connect().await, &app.kek, &claims.tid).await;
    let now = chrono::Utc::now().timestamp();
    let header = |alg: &str| {
        URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "at+jwt", "kid": kid}).to_string())
    };
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_string(&claims).unwrap());

    let mut attacks: Vec<(&str, String)> = vec![
        ("no token at all", String::new()),
        ("garbage", "not.a.jwt".into()),
        ("alg none", format!("{}.{payload}.", header("none"))),
    ];
    // HS256 keyed with the published public key.
    let jwks = app.get("/oidc/jwks").await.json();
    let public = URL_SAFE_NO_PAD
        .decode(jwks["keys"][0]["x"].as_str().unwrap())
        .unwrap();
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some(kid.clone());
    hs.typ = Some("at+jwt".into());
    attacks.push((
        "HS256 with the public key",
        jsonwebtoken::encode(&hs, &claims, &EncodingKey::from_secret(&public)).unwrap(),
    ));
    // Our key, but claims that must not pass.
    let variants: Vec<(&str, Mutation)> = vec![
        (
            "wrong issuer",
            Box::new(|c| c.iss = "https://evil.example".into()),
        ),
        (
            "wrong audience",
            Box::new(|c| c.aud = "https://other.example".into()),
        ),
        ("expired", Box::new(move |c| c.exp = now - 300)),
        ("not yet valid", Box::new(move |c| c.nbf = Some(now + 600))),
        (
            "another tenant",
            Box::new(|c| c.tid = "some-other-tenant".into()),
        ),
    ];
    for (what, change) in variants {
        let mut c = claims.clone();
        change(&mut c);
        attacks.push((what, sign(&c, &kid, &private)));
    }
    // A signature from a key we never published.
    let stranger = idstore_auth::keys::KeyPair::generate().unwrap();
    attacks.push((
        "unknown key",
        sign(&claims, &stranger.kid, &stranger.private_pkcs8),
    ));
    attacks.push((
        "our kid, foreign key",
        sign(&claims, &kid, &stranger.private_pkcs8),
    ));
    // A real token with its payload swapped.
    let mut elevated = claims_like(&claims, TokenKind::Admin);
    elevated.tid = "another".into();
    let parts: Vec<&str> = real.split('.').collect();
    let swapped = URL_SAFE_NO_PAD.encode(serde_json::to_string(&elevated).unwrap());
    attacks.push((
        "tampered payload",
        format!("{}.{swapped}.{}", parts[0], parts[2]),
    ));

    for (what, token) in attacks {
        let status = if token.is_empty() {
            app.call(Method::GET, "/v1/applications", None, None)
                .await
                .status
                .as_u16()
        } else {
            status_with(&app, &token).await
        };
        assert_eq!(status, 401, "{what} was not refused");
    }
    assert_eq!(
        status_with(&app, &real).await,
        200,
        "the real token stopped working"
    );
}

#[actix_web::test]
async fn a_storm_of_random_kids_is_refused_quickly() {
    let app = TestApp::spawn().await;
    let real = app.admin_token().await;
    let claims = read_claims(&real);
    let (_, private) = signing_key(&mut app.db.connect().await, &app.kek, &claims.tid).await;
    let started = std::time::Instant::now();
    for i in 0..200 {
        let token = sign(&claims, &format!("random-kid-{i}"), &private);
        assert_eq!(status_with(&app, &token).await, 401);
    }
    // Each unknown kid may not cost a database round trip: the cache reloads
    // at most once a second, so 200 refusals stay fast.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(status_with(&app, &real).await, 200);
}

#[actix_web::test]
async fn a_refused_token_answers_401_whatever_the_body_or_query_holds() {
    let app = TestApp::spawn().await;
    let claims = read_claims(&app.admin_token().await);
    let stranger = idstore_auth::keys::KeyPair::generate().unwrap();
    // A kid nobody published: checking it reloads the keys from the
    // database, time in which the body is already there to be read.
    let forged = sign(&claims, &stranger.kid, &stranger.private_pkcs8);
    for (method, path, body) in [
        (Method::POST, "/v1/users", Some("{not json")),
        (Method::POST, "/v1/applications", Some(r#"{"unknown": 1}"#)),
        (Method::GET, "/v1/users?no_such_parameter=1", None),
    ] {
        // Past the reload rate limit, so that each forged token is checked
        // against the database again.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let req = app
            .request(method.clone(), path)
            .insert_header(("authorization", format!("Bearer {forged}")))
            .insert_header(("content-type", "application/json"));
        let res = app.send(req, body.map(|b| b.as_bytes().to_vec())).await;
        assert_eq!(res.status, 401, "{method} {path}: {}", res.text);
    }
}
