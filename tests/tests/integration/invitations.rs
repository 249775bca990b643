//! Invitations (createMember's `send_invite`): mailed through the outbox
//! to an SMTP sink started here, accepted, resent, revoked and expired;
//! the mail server down at first; two replicas draining one outbox.

use std::time::Duration;

use actix_web::http::Method;
use idstore_tests::app::{ClientCredentials, test_config};
use idstore_tests::smtp::{SmtpSink, mail_to, unused_address};
use idstore_tests::spec::answered_as;
use idstore_tests::{TestApp, TestResponse};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);
const INVITE_PAGE: &str = "https://portal.example.test/invite";

/// An application with an invite page, its client, and an organization
/// that has it.
struct Portal {
    app_id: String,
    client: ClientCredentials,
    org: String,
}

async fn portal(app: &TestApp, admin: &str) -> Portal {
    let body = json!({"app_name": "Portal", "client_display_name": "default",
                      "invite_member_uri": INVITE_PAGE});
    let res = app
        .with_body(Method::POST, "/v1/applications", admin, &body)
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let r = res.json()["result"].clone();
    let app_id = r["app_id"].as_str().unwrap().to_owned();
    let client = ClientCredentials {
        client_id: r["client_id"].as_str().unwrap().to_owned(),
        client_secret: r["client_secret"].as_str().unwrap().to_owned(),
    };
    let body = json!({"name": "Acme", "domains": [], "app_ids": [app_id]});
    let res = app
        .with_body(Method::POST, "/v1/organizations", admin, &body)
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let org = res.json()["result"]["organization_id"]
        .as_str()
        .unwrap()
        .to_owned();
    Portal {
        app_id,
        client,
        org,
    }
}

async fn invite(app: &TestApp, admin: &str, org: &str, email: &str) -> TestResponse {
    let body = json!({"email": email, "role_ids": [], "send_invite": true});
    app.with_body(
        Method::POST,
        &format!("/v1/organizations/{org}/members"),
        admin,
        &body,
    )
    .await
}

async fn invitations(app: &TestApp, admin: &str, org: &str, query: &str) -> Vec<Value> {
    let res = app
        .with_token(
            Method::GET,
            &format!("/v1/organizations/{org}/invitations{query}"),
            admin,
        )
        .await;
    answered_as("getInvitations", &res, 200)["result"]
        .as_array()
        .unwrap()
        .clone()
}

/// The organization's invitations once `sends` mails in all were
/// recorded as sent (a mail arrives just before its worker records it).
async fn once_sent(app: &TestApp, admin: &str, org: &str, sends: i64) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let listed = invitations(app, admin, org, "").await;
        let recorded: i64 = listed.iter().map(|i| i["sends"].as_i64().unwrap()).sum();
        if recorded >= sends {
            return listed;
        }
        assert!(tokio::time::Instant::now() < deadline, "{listed:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn accept(app: &TestApp, client_token: &str, token: &str) -> TestResponse {
    app.with_body(
        Method::POST,
        "/v1/auth/invitations/accept",
        client_token,
        &json!({"invitation_token": token}),
    )
    .await
}

#[actix_web::test]
async fn without_a_mail_transport_send_invite_is_refused_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let p = portal(&app, &admin).await;
    let res = invite(&app, &admin, &p.org, "nomail@example.com").await;
    let body = answered_as("createMember", &res, 400);
    assert!(body.to_string().contains("mail_transport"), "{body}");
    let res = app
        .with_token(Method::GET, "/v1/users/email/nomail@example.com", &admin)
        .await;
    assert_eq!(res.status, 404, "no user was created: {}", res.text);
    assert!(invitations(&app, &admin, &p.org, "").await.is_empty());
}

#[actix_web::test]
async fn an_invited_member_gets_a_mail_whose_link_accepts_once() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with(|c| mail_to(c, sink.address)).await;
    let admin = app.admin_token().await;
    let p = portal(&app, &admin).await;

    let res = invite(&app, &admin, &p.org, "Ivy@Example.com").await;
    let member = answered_as("createMember", &res, 200)["result"].clone();
    let user_id = member["user_id"].as_str().unwrap().to_owned();
    assert_eq!(member["status"], "Pending");

    let mails = sink.wait_for(1, WAIT).await;
    let mail = &mails[0];
    assert_eq!(mail.to, ["ivy@example.com"]);
    assert_eq!(mail.from, "no-reply@idstore.test");
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("You are invited to Acme")
    );
    assert!(
        mail.text().contains("join Acme on Portal"),
        "{}",
        mail.text()
    );
    let link = mail.link().expect("the mail carries a link");
    assert!(
        link.starts_with(&format!("{INVITE_PAGE}?invitation_token=")),
        "{link}"
    );
    let token = mail.invitation_token().unwrap();

    let listed = once_sent(&app, &admin, &p.org, 1).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let invitation = &listed[0];
    assert_eq!(
        (
            &invitation["status"],
            &invitation["user_id"],
            &invitation["app_id"],
            &invitation["sends"]
        ),
        (
            &json!("pending"),
            &json!(user_id),
            &json!(p.app_id),
            &json!(1)
        )
    );
    // The TTL is the application's, 2880 minutes by default.
    let ttl =
        invitation["expires_at"].as_i64().unwrap() - invitation["created_at"].as_i64().unwrap();
    assert!((ttl - 2880 * 60_000).abs() < 5_000, "ttl {ttl} ms");
    // Only the digest is stored.
    let mut db = app.db.connect().await;
    let stored: Option<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM invitations")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert!(stored.is_some_and(|h| h != token.as_bytes() && h.len() == 32));

    // Another application's client cannot use it.
    let admin_app_token = app.admin_token().await;
    let res = accept(&app, &admin_app_token, &token).await;
    assert_eq!(res.status, 400, "{}", res.text);

    let client_token = app.token_for(&p.client).await;
    let res = accept(&app, &client_token, &token).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json()["result"]["status"], "accepted");
    let user = app
        .with_token(Method::GET, &format!("/v1/users/{user_id}"), &admin)
        .await
        .json()["result"]
        .clone();
    assert_eq!(user["status"], "Active", "{user}");
    assert_eq!(user["email"]["email_verified"], true, "{user}");
    let res = app
        .with_token(Method::GET, &format!("/v1/users/{user_id}"), &client_token)
        .await;
    assert_eq!(
        res.status, 200,
        "the user now belongs to the app: {}",
        res.text
    );

    // Twice: refused, and nothing changes.
    let res = accept(&app, &client_token, &token).await;
    assert_eq!(res.status, 400, "{}", res.text);
    assert!(res.text.contains("resend"), "says what to do: {}", res.text);
    let accepted = invitations(&app, &admin, &p.org, "?status=accepted").await;
    assert_eq!(accepted.len(), 1);
    assert!(
        invitations(&app, &admin, &p.org, "?status=pending")
            .await
            .is_empty()
    );
    assert_eq!(sink.mails().len(), 1, "one mail");
}

#[actix_web::test]
async fn a_resend_mails_a_new_link_and_the_old_one_stops_working() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with(|c| mail_to(c, sink.address)).await;
    let admin = app.admin_token().await;
    let p = portal(&app, &admin).await;
    answered_as(
        "createMember",
        &invite(&app, &admin, &p.org, "rex@example.com").await,
        200,
    );
    let first = sink.wait_for(1, WAIT).await[0].invitation_token().unwrap();
    let id = invitations(&app, &admin, &p.org, "").await[0]["invitation_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let resend = format!("/v1/organizations/{}/invitations/{id}/resend", p.org);
    let res = app.with_token(Method::POST, &resend, &admin).await;
    answered_as("resendInvitation", &res, 200);
    let second = sink.wait_for(2, WAIT).await[1].invitation_token().unwrap();
    assert_ne!(first, second);
    once_sent(&app, &admin, &p.org, 2).await;

    let client_token = app.token_for(&p.client).await;
    let res = accept(&app, &client_token, &first).await;
    assert_eq!(res.status, 400, "the old link: {}", res.text);
    let res = accept(&app, &client_token, &second).await;
    assert_eq!(res.status, 200, "the new link: {}", res.text);
    assert_eq!(res.json()["result"]["sends"], 2);

    // Accepted: nothing more to resend or revoke.
    let res = app.with_token(Method::POST, &resend, &admin).await;
    answered_as("resendInvitation", &res, 400);
    let revoke = format!("/v1/organizations/{}/invitations/{id}/revoke", p.org);
    let res = app.with_token(Method::POST, &revoke, &admin).await;
    answered_as("revokeInvitation", &res, 400);
}

#[actix_web::test]
async fn a_revoked_or_expired_invitation_accepts_nothing() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with(|c| mail_to(c, sink.address)).await;
    let admin = app.admin_token().await;
    let p = portal(&app, &admin).await;
    answered_as(
        "createMember",
        &invite(&app, &admin, &p.org, "rae@example.com").await,
        200,
    );
    answered_as(
        "createMember",
        &invite(&app, &admin, &p.org, "eli@example.com").await,
        200,
    );
    let mails = sink.wait_for(2, WAIT).await;
    let token_of = |to: &str| {
        mails
            .iter()
            .find(|m| m.to == [to])
            .and_then(|m| m.invitation_token())
            .unwrap()
    };
    let (rae, eli) = (token_of("rae@example.com"), token_of("eli@example.com"));
    let listed = invitations(&app, &admin, &p.org, "").await;
    let id_of = |email: &str| {
        listed
            .iter()
            .find(|i| i["email"] == email)
            .map(|i| i["invitation_id"].as_str().unwrap().to_owned())
            .unwrap()
    };

    let revoke = format!(
        "/v1/organizations/{}/invitations/{}/revoke",
        p.org,
        id_of("rae@example.com")
    );
    let res = app.with_token(Method::POST, &revoke, &admin).await;
    assert_eq!(
        answered_as("revokeInvitation", &res, 200)["result"]["status"],
        "revoked"
    );
    let client_token = app.token_for(&p.client).await;
    let res = accept(&app, &client_token, &rae).await;
    assert_eq!(res.status, 400, "revoked: {}", res.text);
    let resend = format!(
        "/v1/organizations/{}/invitations/{}/resend",
        p.org,
        id_of("rae@example.com")
    );
    let res = app.with_token(Method::POST, &resend, &admin).await;
    answered_as("resendInvitation", &res, 400);

    // Time passes (the clock is the database's).
    let mut db = app.db.connect().await;
    sqlx::query("UPDATE invitations SET expires_at = now() - interval '1 second' WHERE email = $1")
        .bind("eli@example.com")
        .execute(&mut db)
        .await
        .unwrap();
    let res = accept(&app, &client_token, &eli).await;
    assert_eq!(res.status, 400, "expired: {}", res.text);
    let expired = invitations(&app, &admin, &p.org, "?status=expired").await;
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["email"], "eli@example.com");
    assert_eq!(
        invitations(&app, &admin, &p.org, "?status=revoked")
            .await
            .len(),
        1
    );
    let res = app
        .with_token(
            Method::GET,
            &format!("/v1/organizations/{}/invitations?status=lost", p.org),
            &admin,
        )
        .await;
    answered_as("getInvitations", &res, 400);
    // An expired invitation may be resent: a new link, a new lifetime.
    let resend = format!(
        "/v1/organizations/{}/invitations/{}/resend",
        p.org,
        id_of("eli@example.com")
    );
    let res = app.with_token(Method::POST, &resend, &admin).await;
    assert_eq!(
        answered_as("resendInvitation", &res, 200)["result"]["status"],
        "pending"
    );
    let fresh = sink.wait_for(3, WAIT).await[2].invitation_token().unwrap();
    let res = accept(&app, &client_token, &fresh).await;
    assert_eq!(res.status, 200, "{}", res.text);
}

#[actix_web::test]
async fn an_invitation_waits_for_a_mail_server_that_is_down_and_arrives_once_it_is_up() {
    let address = unused_address();
    let app = TestApp::spawn_with(|c| mail_to(c, address)).await;
    let admin = app.admin_token().await;
    let p = portal(&app, &admin).await;
    answered_as(
        "createMember",
        &invite(&app, &admin, &p.org, "pat@example.com").await,
        200,
    );

    // Tried and failed, at least twice, and kept.
    let mut db = app.db.connect().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let attempts: Option<i32> = sqlx::query_scalar("SELECT max(attempts) FROM mail_outbox")
            .fetch_one(&mut db)
            .await
            .unwrap();
        if attempts.unwrap_or(0) >= 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no retries seen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let listed = invitations(&app, &admin, &p.org, "").await;
    assert_eq!(
        (&listed[0]["status"], &listed[0]["sends"]),
        (&json!("pending"), &json!(0))
    );

    let sink = SmtpSink::start_on(address).await;
    let mails = sink.wait_for(1, WAIT).await;
    assert_eq!(mails[0].to, ["pat@example.com"]);
    let client_token = app.token_for(&p.client).await;
    let res = accept(&app, &client_token, &mails[0].invitation_token().unwrap()).await;
    assert_eq!(res.status, 200, "{}", res.text);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.mails().len(), 1, "sent once");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM mail_outbox")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(left, 0, "the outbox is empty");
}

#[actix_web::test]
async fn two_replicas_drain_one_outbox_without_sending_a_mail_twice() {
    let address = unused_address();
    let a = TestApp::spawn_with(|c| mail_to(c, address)).await;
    let mut config = test_config(&a.db.url());
    config.key_encryption_key = Some(a.kek.to_base64().to_string().into());
    config.bootstrap = false;
    mail_to(&mut config, address);
    let b = TestApp::start(a.db.clone(), &config).await.unwrap();
    let admin = a.admin_token().await;
    let p = portal(&a, &admin).await;
    // Written while the server is down, so that both replicas' workers
    // find them due at once when it comes up.
    const N: usize = 30;
    for n in 0..N {
        let res = invite(&a, &admin, &p.org, &format!("member{n}@example.com")).await;
        answered_as("createMember", &res, 200);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sink = SmtpSink::start_on(address).await;
    sink.wait_for(N, WAIT).await;
    // Both keep polling: nothing more may come.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mails = sink.mails();
    let mut to: Vec<String> = mails.iter().map(|m| m.to.join(",")).collect();
    to.sort();
    to.dedup();
    assert_eq!((mails.len(), to.len()), (N, N), "each member mailed once");
    let listed = once_sent(&a, &admin, &p.org, N as i64).await;
    assert!(listed.iter().all(|i| i["sends"] == 1), "{listed:?}");
    drop(b);
}

/// An application with `settings` (an invite page unless they say
/// otherwise), added to the organization `org`.
async fn app_in(app: &TestApp, admin: &str, org: &str, name: &str, settings: Value) -> String {
    let mut body = json!({"app_name": name, "client_display_name": "default"});
    body.as_object_mut()
        .unwrap()
        .extend(settings.as_object().unwrap().clone());
    let res = app
        .with_body(Method::POST, "/v1/applications", admin, &body)
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let app_id = res.json()["result"]["app_id"].as_str().unwrap().to_owned();
    let res = app
        .with_body(
            Method::PUT,
            &format!("/v1/organizations/{org}/apps"),
            admin,
            &json!({"app_ids": [app_id]}),
        )
        .await;
    assert_eq!(res.status, 204, "{}", res.text);
    app_id
}

async fn outbox_rows(app: &TestApp) -> (i64, i64) {
    let mut db = app.db.connect().await;
    let invitations: i64 = sqlx::query_scalar("SELECT count(*) FROM invitations")
        .fetch_one(&mut db)
        .await
        .unwrap();
    let mails: i64 = sqlx::query_scalar("SELECT count(*) FROM mail_outbox")
        .fetch_one(&mut db)
        .await
        .unwrap();
    (invitations, mails)
}

#[actix_web::test]
async fn each_application_of_the_organization_gets_an_invitation_with_its_own_lifetime() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with(|c| mail_to(c, sink.address)).await;
    let admin = app.admin_token().await;
    let p = portal(&app, &admin).await;
    let shop = app_in(
        &app,
        &admin,
        &p.org,
        "Shop",
        json!({"login_uri": "https://shop.example.test/login",
               "invite_member_email_expiration_minutes": 60}),
    )
    .await;

    // An existing, Active user: it stays Active and keeps its profile.
    let zoe = app.new_user(&admin, "zoe@example.com").await;
    let res = invite(&app, &admin, &p.org, "zoe@example.com").await;
    let member = answered_as("createMember", &res, 200)["result"].clone();
    assert_eq!(
        (&member["user_id"], &member["status"]),
        (&json!(zoe), &json!("Active"))
    );
    let mails = sink.wait_for(2, WAIT).await;
    let links: Vec<String> = mails.iter().map(|m| m.link().unwrap()).collect();
    assert!(
        links.iter().any(|l| l.starts_with(INVITE_PAGE)),
        "{links:?}"
    );
    assert!(
        links
            .iter()
            .any(|l| l.starts_with("https://shop.example.test/login?invitation_token=")),
        "{links:?}"
    );
    let listed = once_sent(&app, &admin, &p.org, 2).await;
    let of = |app_id: &str| {
        listed
            .iter()
            .find(|i| i["app_id"] == app_id)
            .unwrap()
            .clone()
    };
    let lifetime =
        |i: &Value| i["expires_at"].as_i64().unwrap() - i["created_at"].as_i64().unwrap();
    assert_eq!(lifetime(&of(&shop)), 60 * 60_000);
    assert_eq!(lifetime(&of(&p.app_id)), 2880 * 60_000);

    // Accepted through the portal's link: the user joins the portal only.
    let portal_mail = mails
        .iter()
        .find(|m| m.link().unwrap().starts_with(INVITE_PAGE))
        .unwrap();
    let client_token = app.token_for(&p.client).await;
    let res = accept(
        &app,
        &client_token,
        &portal_mail.invitation_token().unwrap(),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let user = app
        .with_token(Method::GET, &format!("/v1/users/{zoe}"), &admin)
        .await
        .json()["result"]
        .clone();
    assert_eq!(
        (&user["status"], &user["email"]["email_verified"]),
        (&json!("Active"), &json!(true))
    );
    let still = invitations(&app, &admin, &p.org, "?status=pending").await;
    assert_eq!(still.len(), 1);
    assert_eq!(still[0]["app_id"], shop.as_str());
}

#[actix_web::test]
async fn an_invitation_that_cannot_be_sent_is_refused_and_writes_nothing() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with(|c| mail_to(c, sink.address)).await;
    let admin = app.admin_token().await;
    let members = |org: &str| format!("/v1/organizations/{org}/members");

    // An organization without applications.
    let bare = app.new_org(&admin, "Bare").await;
    let res = invite(&app, &admin, &bare, "new@example.com").await;
    let body = answered_as("createMember", &res, 400);
    assert!(body.to_string().contains("addAppsToOrganization"), "{body}");
    let res = app
        .with_token(Method::GET, "/v1/users/email/new@example.com", &admin)
        .await;
    assert_eq!(res.status, 404, "no user: {}", res.text);

    // An application with no page to link to (an empty one is none).
    let p = portal(&app, &admin).await;
    app_in(
        &app,
        &admin,
        &p.org,
        "Blank",
        json!({"invite_member_uri": ""}),
    )
    .await;
    let res = invite(&app, &admin, &p.org, "new@example.com").await;
    let body = answered_as("createMember", &res, 400);
    assert!(
        body.to_string().contains("Blank"),
        "names the application: {body}"
    );

    // A member with no email address.
    let body = json!({"phone_number": "+12125550123", "role_ids": [], "send_invite": true});
    let res = app
        .with_body(Method::POST, &members(&bare), &admin, &body)
        .await;
    answered_as("createMember", &res, 400);

    let res = app.with_token(Method::GET, &members(&p.org), &admin).await;
    assert_eq!(answered_as("getMembers", &res, 200)["result"], json!([]));
    assert_eq!(outbox_rows(&app).await, (0, 0), "no invitation, no mail");
    assert!(sink.mails().is_empty());
}

#[actix_web::test]
async fn a_changed_email_voids_the_old_link_and_a_resend_goes_to_the_new_address() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with(|c| mail_to(c, sink.address)).await;
    let admin = app.admin_token().await;
    let p = portal(&app, &admin).await;
    let res = invite(&app, &admin, &p.org, "old@example.com").await;
    let user_id = answered_as("createMember", &res, 200)["result"]["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let old = sink.wait_for(1, WAIT).await[0].invitation_token().unwrap();
    let res = app
        .with_body(
            Method::PUT,
            &format!("/v1/users/{user_id}"),
            &admin,
            &json!({"email": "new@example.com"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let client_token = app.token_for(&p.client).await;
    let res = accept(&app, &client_token, &old).await;
    assert_eq!(res.status, 400, "the old address's link: {}", res.text);

    let id = invitations(&app, &admin, &p.org, "").await[0]["invitation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resend = format!("/v1/organizations/{}/invitations/{id}/resend", p.org);
    let res = app.with_token(Method::POST, &resend, &admin).await;
    assert_eq!(
        answered_as("resendInvitation", &res, 200)["result"]["email"],
        "new@example.com"
    );
    let mail = sink.wait_for(2, WAIT).await[1].clone();
    assert_eq!(mail.to, ["new@example.com"]);
    let res = accept(&app, &client_token, &mail.invitation_token().unwrap()).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let revoke = format!("/v1/organizations/{}/invitations/{id}/revoke", p.org);
    let res = app.with_token(Method::POST, &revoke, &admin).await;
    answered_as("revokeInvitation", &res, 400);
}

#[actix_web::test]
async fn the_log_transport_delivers_invitations_to_the_log() {
    let app = TestApp::spawn_with(|c| {
        c.mail_transport = idstore_server::MailTransport::Log;
        c.mail_from = Some("no-reply@idstore.test".into());
        c.mail_poll_ms = 50;
    })
    .await;
    let admin = app.admin_token().await;
    let p = portal(&app, &admin).await;
    answered_as(
        "createMember",
        &invite(&app, &admin, &p.org, "log@example.com").await,
        200,
    );
    let listed = once_sent(&app, &admin, &p.org, 1).await;
    assert_eq!(listed[0]["status"], "pending");
    assert_eq!(outbox_rows(&app).await, (1, 0), "sent: the outbox is empty");
}
