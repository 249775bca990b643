//! The audit trail: one event per mutation, committed with it; refusals
//! recorded; names of fields, never their values; read by an admin of the
//! tenant, page after page, without losing an event to a late commit.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use actix_web::http::Method;
use idstore_tests::app::{TestApp, TestResponse};
use idstore_tests::smtp::{SmtpSink, mail_to};
use idstore_tests::tokens::read_claims;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

/// `method path` with `token`, an optional JSON body and our own request id.
async fn send(
    app: &TestApp,
    (method, path): (Method, &str),
    token: &str,
    body: Option<&Value>,
    request_id: &str,
) -> TestResponse {
    let req = app
        .request(method, path)
        .insert_header(("authorization", format!("Bearer {token}")))
        .insert_header(("x-request-id", request_id));
    match body {
        Some(b) => {
            let req = req.content_type("application/json");
            app.send(req, Some(b.to_string().into_bytes())).await
        }
        None => app.send(req, None).await,
    }
}

/// Every stored event, as the table holds it (the read API's horizon
/// aside), oldest first.
async fn stored(app: &TestApp) -> Vec<Value> {
    sqlx::query_scalar("SELECT to_jsonb(e) - 'txn' FROM audit_events e ORDER BY event_id")
        .fetch_all(&mut app.db.connect().await)
        .await
        .unwrap()
}

/// The stored events of the request `request_id`.
async fn stored_for(app: &TestApp, request_id: &str) -> Vec<Value> {
    sqlx::query_scalar("SELECT to_jsonb(e) - 'txn' FROM audit_events e WHERE request_id = $1")
        .bind(request_id)
        .fetch_all(&mut app.db.connect().await)
        .await
        .unwrap()
}

/// One page of the trail after `after`.
async fn page(app: &TestApp, token: &str, after: Option<i64>, limit: u32) -> (Vec<Value>, Value) {
    let after = after.map_or(String::new(), |a| format!("&after={a}"));
    let path = format!("/v1/admin/audit-events?page_limit={limit}{after}");
    let res = app.with_token(Method::GET, &path, token).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let body = res.json();
    (
        body["result"].as_array().unwrap().clone(),
        body["next_after"].clone(),
    )
}

/// Pages on from `after` until a page is empty; the events and the last
/// `next_after`.
async fn read_on(
    app: &TestApp,
    token: &str,
    mut after: Option<i64>,
    limit: u32,
) -> (Vec<Value>, Option<i64>) {
    let mut events = Vec::new();
    loop {
        let (result, next) = page(app, token, after, limit).await;
        if result.is_empty() {
            assert_eq!(next.as_i64(), after, "an empty page keeps the cursor");
            return (events, after);
        }
        after = next.as_i64();
        assert_eq!(after, result.last().unwrap()["event_id"].as_i64());
        events.extend(result);
    }
}

/// Reads the whole trail until `done` holds of it (events of this
/// database's other transactions may hold it back for a moment).
async fn read_until(app: &TestApp, token: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    read_on_until(app, token, None, 1000, done).await.0
}

/// Reads on from `after` until `done` holds of what came. The horizon
/// errs on the side of waiting: a transaction that ended as the snapshot
/// was taken (in any database of the server) holds the trail back for a
/// moment, so a single read may come back short.
async fn read_on_until(
    app: &TestApp,
    token: &str,
    after: Option<i64>,
    limit: u32,
    done: impl Fn(&[Value]) -> bool,
) -> (Vec<Value>, Option<i64>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (events, cursor) = read_on(app, token, after, limit).await;
        if done(&events) {
            return (events, cursor);
        }
        assert!(Instant::now() < deadline, "never came: {events:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The cursor after every event stored so far (the test's one tenant's).
async fn cursor_at_end(app: &TestApp, token: &str) -> Option<i64> {
    let count = stored(app).await.len();
    let events = read_until(app, token, |e| e.len() >= count).await;
    events.last().map(|e| e["event_id"].as_i64().unwrap())
}

fn actions(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

fn id_of(res: &TestResponse, pointer: &str) -> String {
    assert!(res.status.is_success(), "{}", res.text);
    res.json()
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no {pointer} in {}", res.text))
        .to_owned()
}

/// An event written by hand, as a mutation in flight would write it.
async fn insert_probe(conn: &mut PgConnection, tenant_id: &str, action: &str) {
    sqlx::query("INSERT INTO audit_events (tenant_id, actor_kind, action) VALUES ($1, 'cli', $2)")
        .bind(tenant_id)
        .bind(action)
        .execute(conn)
        .await
        .unwrap();
}

/// One mutation the first test makes, and the event it must leave.
struct Case {
    method: Method,
    pattern: &'static str,
    request_id: String,
    action: &'static str,
    subject: String,
    /// The actor kind the token was of.
    actor_kind: &'static str,
}

/// Runs mutations with a token (an admin's, unless changed), each with
/// its own request id.
struct Script<'a> {
    app: &'a TestApp,
    token: String,
    actor_kind: &'static str,
    cases: Vec<Case>,
}

impl Script<'_> {
    /// `method path` (an instance of `pattern`), expected to succeed and to
    /// be recorded as `action` on `subject` (set later with
    /// [`Script::subject`] when the answer names it).
    async fn run(
        &mut self,
        (method, pattern): (Method, &'static str),
        path: &str,
        body: Option<Value>,
        (action, subject): (&'static str, &str),
    ) -> TestResponse {
        let request_id = format!("audit-{}", self.cases.len());
        let res = send(
            self.app,
            (method.clone(), path),
            &self.token,
            body.as_ref(),
            &request_id,
        )
        .await;
        assert!(res.status.is_success(), "{method} {path}: {}", res.text);
        self.cases.push(Case {
            method,
            pattern,
            request_id,
            action,
            subject: subject.to_owned(),
            actor_kind: self.actor_kind,
        });
        res
    }

    /// Names the last run's subject: the id at `pointer` in its answer.
    fn subject(&mut self, res: &TestResponse, pointer: &str) -> String {
        let id = id_of(res, pointer);
        self.cases.last_mut().unwrap().subject = id.clone();
        id
    }
}

#[actix_web::test]
async fn every_mutating_route_leaves_exactly_one_event_naming_its_actor_action_subject_and_request()
{
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with(|c| mail_to(c, sink.address)).await;
    let admin = app.admin_token().await;
    let (app_id, _) = app.create_app(&admin, "audited").await;
    let member = app.new_user(&admin, "member@example.com").await;
    let mut s = Script {
        app: &app,
        token: admin.clone(),
        actor_kind: "admin",
        cases: Vec::new(),
    };
    use Method as M;

    let body = json!({"email": "ann@example.com", "phone_number": "+12125550100",
                      "secondary_emails": ["ann2@example.com"],
                      "secondary_phone_numbers": ["+12125550101"],
                      "custom_app_data": {"plan": "x"}});
    let res = s
        .run(
            (M::POST, "/v1/users"),
            "/v1/users",
            Some(body),
            ("user.create", ""),
        )
        .await;
    let user = s.subject(&res, "/result/user_id");
    let u = format!("/v1/users/{user}");
    let on_user = |action| (action, user.as_str());
    let tier = json!({"custom_data": {"tier": "gold"}});
    s.run(
        (M::PUT, "/v1/users/{user_id}"),
        &u,
        Some(tier),
        on_user("user.update"),
    )
    .await;
    s.run(
        (M::POST, "/v1/users/{user_id}/emails/{email}/verify"),
        &format!("{u}/emails/ann@example.com/verify"),
        Some(json!({})),
        on_user("user.email.verify"),
    )
    .await;
    s.run(
        (
            M::POST,
            "/v1/users/{user_id}/phone-numbers/{phone_number}/verify",
        ),
        &format!("{u}/phone-numbers/%2B12125550100/verify"),
        Some(json!({})),
        on_user("user.phone_number.verify"),
    )
    .await;
    s.run(
        (M::DELETE, "/v1/users/{user_id}/emails/{email}"),
        &format!("{u}/emails/ann2@example.com"),
        None,
        on_user("user.email.remove"),
    )
    .await;
    s.run(
        (
            M::DELETE,
            "/v1/users/{user_id}/phone-numbers/{phone_number}",
        ),
        &format!("{u}/phone-numbers/%2B12125550101"),
        None,
        on_user("user.phone_number.remove"),
    )
    .await;
    s.run(
        (M::DELETE, "/v1/users/{user_id}/apps"),
        &format!("{u}/apps"),
        None,
        on_user("user.app.remove"),
    )
    .await;
    s.run(
        (M::DELETE, "/v1/manage/users/{user_id}"),
        &format!("/v1/manage/users/{user}"),
        None,
        on_user("user.delete"),
    )
    .await;

    let res = s
        .run(
            (M::POST, "/v1/admin/groups"),
            "/v1/admin/groups",
            Some(json!({"name": "g"})),
            ("group.create", ""),
        )
        .await;
    let group = s.subject(&res, "/result/group_id");
    let g = format!("/v1/admin/groups/{group}");
    let members = json!({"user_ids": [member]});
    s.run(
        (M::POST, "/v1/admin/groups/{group_id}/members"),
        &format!("{g}/members"),
        Some(members),
        ("group.members.add", &group),
    )
    .await;
    s.run(
        (M::DELETE, "/v1/admin/groups/{group_id}/members/{user_id}"),
        &format!("{g}/members/{member}"),
        None,
        ("group.member.remove", &group),
    )
    .await;
    s.run(
        (M::DELETE, "/v1/admin/groups/{group_id}"),
        &g,
        None,
        ("group.delete", &group),
    )
    .await;

    let shop = json!({"app_name": "shop"});
    let res = s
        .run(
            (M::POST, "/v1/applications"),
            "/v1/applications",
            Some(shop),
            ("application.create", ""),
        )
        .await;
    let shop = s.subject(&res, "/result/app_id");
    let a = format!("/v1/applications/{shop}");
    let described = json!({"app_description": "d"});
    s.run(
        (M::PUT, "/v1/applications/{app_id}"),
        &a,
        Some(described),
        ("application.update", &shop),
    )
    .await;
    s.run(
        (M::PUT, "/v1/admin/applications/{app_id}/user-permissions"),
        &format!("/v1/admin/applications/{shop}/user-permissions"),
        Some(json!({"change_status": false})),
        ("application.user_permissions.update", &shop),
    )
    .await;
    let new_client = json!({"name": "c", "redirect_uris": ["https://shop.example/cb"]});
    let res = s
        .run(
            (M::POST, "/v1/applications/{app_id}/clients"),
            &format!("{a}/clients"),
            Some(new_client),
            ("client.create", ""),
        )
        .await;
    let client = s.subject(&res, "/client_id");
    let c = format!("{a}/clients/{client}");
    s.run(
        (M::PUT, "/v1/applications/{app_id}/clients/{client_id}"),
        &c,
        Some(json!({"description": "x"})),
        ("client.update", &client),
    )
    .await;
    s.run(
        (
            M::POST,
            "/v1/admin/applications/{app_id}/clients/{client_id}/rotate-secret",
        ),
        &format!("/v1/admin/applications/{shop}/clients/{client}/rotate-secret"),
        None,
        ("client.secret.rotate", &client),
    )
    .await;
    s.run(
        (M::DELETE, "/v1/applications/{app_id}/clients/{client_id}"),
        &c,
        None,
        ("client.delete", &client),
    )
    .await;
    let res = s
        .run(
            (M::POST, "/v1/applications/{app_id}/roles"),
            &format!("{a}/roles"),
            Some(json!({"role_name": "r"})),
            ("role.create", ""),
        )
        .await;
    let role = s.subject(&res, "/result/role_id");
    s.run(
        (M::DELETE, "/v1/applications/{app_id}/roles/{role_id}"),
        &format!("{a}/roles/{role}"),
        None,
        ("role.delete", &role),
    )
    .await;
    s.run(
        (M::DELETE, "/v1/applications/{app_id}/clients"),
        &format!("/v1/applications/{app_id}/clients"),
        None,
        ("application.clients.delete", &app_id),
    )
    .await;
    organizations(&mut s, &shop).await;
    s.run(
        (M::DELETE, "/v1/applications/{app_id}"),
        &a,
        None,
        ("application.delete", &shop),
    )
    .await;
    passwords_and_login(&mut s, &app, &admin).await;
    invitations(&mut s, &app, &admin, &sink).await;
    let cases = s.cases;

    // Every route that changes something is here: a new one fails this
    // test until its store function records its event.
    let mutating: BTreeSet<(String, &str)> = idstore_api::route_table()
        .into_iter()
        .filter(|r| r.policy.is_some() && r.method != Method::GET)
        .map(|r| (r.method.to_string(), r.path))
        .collect();
    let covered: BTreeSet<(String, &str)> = cases
        .iter()
        .map(|c| (c.method.to_string(), c.pattern))
        .collect();
    assert_eq!(covered, mutating);

    let admin_client = &app.admin.client_id;
    for c in &cases {
        let (method, pattern) = (&c.method, c.pattern);
        let events = stored_for(&app, &c.request_id).await;
        assert_eq!(events.len(), 1, "{method} {pattern}: {events:#?}");
        let e = &events[0];
        assert_eq!(e["action"], c.action, "{method} {pattern}: {e}");
        assert_eq!(e["subject_id"], c.subject, "{method} {pattern}: {e}");
        assert_eq!(e["actor_kind"], c.actor_kind, "{e}");
        assert_eq!(e["actor_client_id"], *admin_client, "{e}");
        assert_eq!(e["route"], format!("{method} {pattern}"), "{e}");
        assert_eq!(e["tenant_id"], read_claims(&admin).tid, "{e}");
    }

    // The same events over HTTP, in the shape the API answers.
    let read = read_until(&app, &admin, |events| {
        cases
            .iter()
            .all(|c| events.iter().any(|e| e["request_id"] == c.request_id))
    })
    .await;
    let e = read.iter().find(|e| e["request_id"] == "audit-1").unwrap();
    assert_eq!(e["action"], "user.update");
    assert_eq!(e["actor"]["kind"], "admin");
    assert_eq!(e["actor"]["client_id"], *admin_client);
    assert_eq!(e["route"], "PUT /v1/users/{user_id}");
    assert_eq!(e["diff"], json!({"changed": ["custom_data.tier"]}));
    assert!(e["occurred_at"].as_str().unwrap().ends_with('Z'), "{e}");
}

/// The organization routes, with the application `app_id`.
async fn organizations(s: &mut Script<'_>, app_id: &str) {
    let body = json!({"name": "acme", "domains": ["acme.example"], "app_ids": []});
    let res = s
        .run(
            (Method::POST, "/v1/organizations"),
            "/v1/organizations",
            Some(body),
            ("organization.create", ""),
        )
        .await;
    let org = s.subject(&res, "/result/organization_id");
    let o = format!("/v1/organizations/{org}");
    s.run(
        (Method::PUT, "/v1/organizations/{organization_id}"),
        &o,
        Some(json!({"alias_name": "acme-co"})),
        ("organization.update", &org),
    )
    .await;
    let apps = json!({"app_ids": [app_id]});
    s.run(
        (Method::PUT, "/v1/organizations/{organization_id}/apps"),
        &format!("{o}/apps"),
        Some(apps.clone()),
        ("organization.apps.add", &org),
    )
    .await;
    let members = format!("{o}/members");
    let res = s
        .run(
            (Method::POST, "/v1/organizations/{organization_id}/members"),
            &members,
            Some(json!({"email": "joiner@example.com", "role_ids": []})),
            ("user.create", ""),
        )
        .await;
    let member = s.subject(&res, "/result/user_id");
    role_groups(s, app_id, &org, &member).await;
    s.run(
        (
            Method::PUT,
            "/v1/organizations/{organization_id}/members/{user_id}",
        ),
        &format!("{members}/{member}"),
        Some(json!({"title": "CTO"})),
        ("member.update", &member),
    )
    .await;
    s.run(
        (
            Method::DELETE,
            "/v1/organizations/{organization_id}/members/{user_id}",
        ),
        &format!("{members}/{member}"),
        None,
        ("member.remove", &member),
    )
    .await;
    s.run(
        (Method::POST, "/v1/organizations/{organization_id}/members"),
        &members,
        Some(json!({"email": "joiner@example.com", "role_ids": []})),
        ("member.add", &member),
    )
    .await;
    s.run(
        (Method::DELETE, "/v1/organizations/{organization_id}/apps"),
        &format!("{o}/apps"),
        Some(apps),
        ("organization.apps.remove", &org),
    )
    .await;
    s.run(
        (Method::DELETE, "/v1/organizations/{organization_id}"),
        &o,
        None,
        ("organization.delete", &org),
    )
    .await;
}

/// The role group routes: a group of the application `app_id`'s new role,
/// attached to `org` (which has the application then), given to `member`.
async fn role_groups(s: &mut Script<'_>, app_id: &str, org: &str, member: &str) {
    let res = s
        .run(
            (Method::POST, "/v1/applications/{app_id}/roles"),
            &format!("/v1/applications/{app_id}/roles"),
            Some(json!({"role_name": "auditor"})),
            ("role.create", ""),
        )
        .await;
    let role = s.subject(&res, "/result/role_id");
    let res = s
        .run(
            (Method::POST, "/v1/applications/{app_id}/role-groups"),
            &format!("/v1/applications/{app_id}/role-groups"),
            Some(json!({"name": "auditors", "role_ids": [role]})),
            ("role_group.create", ""),
        )
        .await;
    let group = s.subject(&res, "/result/group_id");
    let in_org = format!("/v1/applications/{app_id}/organizations/{org}");
    s.run(
        (
            Method::POST,
            "/v1/applications/{app_id}/organizations/{organization_id}/role-groups/set",
        ),
        &format!("{in_org}/role-groups/set"),
        Some(json!({"role_group_ids": [group]})),
        ("organization.role_groups.set", org),
    )
    .await;
    s.run(
        (
            Method::POST,
            "/v1/applications/{app_id}/organizations/{organization_id}/members/{member_id}/roles",
        ),
        &format!("{in_org}/members/{member}/roles"),
        Some(json!({"role_ids": [role]})),
        ("member.roles.set", member),
    )
    .await;
    s.run(
        (
            Method::DELETE,
            "/v1/applications/{app_id}/role-groups/{group_id}",
        ),
        &format!("/v1/applications/{app_id}/role-groups/{group}"),
        None,
        ("role_group.delete", &group),
    )
    .await;
}

/// The invitation routes: invitations to the management application (the
/// admin token's own, which accepts them), mailed to `sink`.
async fn invitations(s: &mut Script<'_>, app: &TestApp, admin: &str, sink: &SmtpSink) {
    let mgmt = read_claims(admin).app_id;
    let page = json!({"invite_member_uri": "https://console.example.test/invite"});
    let res = app
        .with_body(
            Method::PUT,
            &format!("/v1/applications/{mgmt}"),
            admin,
            &page,
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let org = json!({"name": "invited", "domains": [], "app_ids": [mgmt]});
    let res = app
        .with_body(Method::POST, "/v1/organizations", admin, &org)
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let org = res.json()["result"]["organization_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let members = format!("/v1/organizations/{org}/members");
    for email in ["guest@example.com", "other@example.com"] {
        let body = json!({"email": email, "role_ids": [], "send_invite": true});
        let res = app.with_body(Method::POST, &members, admin, &body).await;
        assert_eq!(res.status, 200, "{}", res.text);
    }
    sink.wait_for(2, Duration::from_secs(20)).await;
    let listed = app
        .with_token(
            Method::GET,
            &format!("/v1/organizations/{org}/invitations"),
            admin,
        )
        .await
        .json()["result"]
        .clone();
    let id_of = |email: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["email"] == email)
            .map(|i| i["invitation_id"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let (guest, other) = (id_of("guest@example.com"), id_of("other@example.com"));
    let i = format!("/v1/organizations/{org}/invitations");
    s.run(
        (
            Method::POST,
            "/v1/organizations/{organization_id}/invitations/{invitation_id}/resend",
        ),
        &format!("{i}/{guest}/resend"),
        None,
        ("invitation.resend", &guest),
    )
    .await;
    let token = sink.wait_for(3, Duration::from_secs(20)).await[2]
        .invitation_token()
        .unwrap();
    s.run(
        (Method::POST, "/v1/auth/invitations/accept"),
        "/v1/auth/invitations/accept",
        Some(json!({"invitation_token": token})),
        ("invitation.accept", &guest),
    )
    .await;
    s.run(
        (
            Method::POST,
            "/v1/organizations/{organization_id}/invitations/{invitation_id}/revoke",
        ),
        &format!("{i}/{other}/revoke"),
        None,
        ("invitation.revoke", &other),
    )
    .await;
}

/// The password, login and `/users/me` routes of the script.
async fn passwords_and_login(s: &mut Script<'_>, app: &TestApp, admin: &str) {
    use Method as M;
    let tenant = read_claims(admin).tid;
    let mgmt = read_claims(admin).app_id;
    s.run(
        (M::PUT, "/v1/admin/password-policy"),
        "/v1/admin/password-policy",
        Some(json!({"min_length": 16})),
        ("password_policy.update", &tenant),
    )
    .await;
    let (shop, _) = app.create_app(admin, "policy-shop").await;
    let p = format!("/v1/admin/applications/{shop}/password-policy");
    let pattern = "/v1/admin/applications/{app_id}/password-policy";
    s.run(
        (M::PUT, pattern),
        &p,
        Some(json!({})),
        ("password_policy.update", &shop),
    )
    .await;
    s.run(
        (M::DELETE, pattern),
        &p,
        None,
        ("password_policy.delete", &shop),
    )
    .await;

    let user = app.new_user(admin, "pat@example.com").await;
    let u = format!("/v1/users/{user}/password");
    let pw = |p: &str, temporary: bool| json!({"password": p, "force_replace": temporary});
    let password = "lantern-orchard-velvet-42";
    s.run(
        (M::POST, "/v1/users/{user_id}/password"),
        &u,
        Some(pw("first-lantern-orchard-7", true)),
        ("user.password.add", &user),
    )
    .await;
    s.run(
        (M::PUT, "/v1/users/{user_id}/password"),
        &u,
        Some(pw(password, false)),
        ("user.password.update", &user),
    )
    .await;
    // Logins through the management application's own client.
    let admin_client = &app.admin;
    let client_path = format!("/v1/applications/{mgmt}/clients/{}", admin_client.client_id);
    let res = app
        .with_body(
            M::PUT,
            &client_path,
            admin,
            &json!({"redirect_uris": [idstore_tests::login::REDIRECT]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let login = |email: &str, password: &str| {
        json!({"email": email, "password": password, "client_id": admin_client.client_id,
               "redirect_uri": idstore_tests::login::REDIRECT})
    };
    s.run(
        (M::POST, "/v1/auth/password/login"),
        "/v1/auth/password/login",
        Some(login("pat@example.com", password)),
        ("user.login", &user),
    )
    .await;
    // A temporary password: its login (no event) answers a reset ticket.
    let temp = app.new_user(admin, "tia@example.com").await;
    let res = app
        .with_body(
            M::POST,
            &format!("/v1/users/{temp}/password"),
            admin,
            &pw("temporary-lantern-9", true),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let res = app
        .with_body(
            M::POST,
            "/v1/auth/password/login",
            admin,
            &login("tia@example.com", "temporary-lantern-9"),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let reset_token = res.json()["result"]["reset_token"]
        .as_str()
        .unwrap()
        .to_owned();
    s.run(
        (M::POST, "/v1/auth/password/reset"),
        "/v1/auth/password/reset",
        Some(json!({"reset_token": reset_token, "password": "replaced-lantern-orchard-3"})),
        ("user.password.reset", &temp),
    )
    .await;
    s.run(
        (M::POST, "/v1/admin/users/{user_id}/unlock"),
        &format!("/v1/admin/users/{user}/unlock"),
        None,
        ("user.unlock", &user),
    )
    .await;

    // A user without a password, with its own UserAccessToken.
    let me = app.new_user(admin, "mia@example.com").await;
    let (kid, private) =
        idstore_tests::tokens::signing_key(&mut app.db.connect().await, &app.kek, &tenant).await;
    let mut claims =
        idstore_tests::tokens::claims_like(&read_claims(admin), idstore_auth::TokenKind::User);
    claims.sub = me.clone();
    s.token = idstore_tests::tokens::sign(&claims, &kid, &private);
    s.actor_kind = "user";
    let key = json!({"public_key": {"kty": "OKP", "crv": "Ed25519",
                                    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}});
    let res = s
        .run(
            (M::POST, "/v1/users/me/device-keys"),
            "/v1/users/me/device-keys",
            Some(key),
            ("user.device_key.add", &me),
        )
        .await;
    let key_id = id_of(&res, "/result/key_id");
    s.run(
        (M::DELETE, "/v1/users/me/device-keys/{key_id}"),
        &format!("/v1/users/me/device-keys/{key_id}"),
        None,
        ("user.device_key.revoke", &me),
    )
    .await;
    // Last: a new password signs the user's earlier tokens out.
    s.run(
        (M::POST, "/v1/users/me/password-credentials"),
        "/v1/users/me/password-credentials",
        Some(json!({"password": "my-own-lantern-orchard"})),
        ("user.password.add", &me),
    )
    .await;
    s.token = admin.to_owned();
    s.actor_kind = "admin";
}

#[actix_web::test]
async fn events_name_the_changed_fields_and_hold_no_values_or_secrets() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let body = json!({
        "email": "Ann.Secret@Example.com", "phone_number": "+12125550177",
        "name": {"first_name": "Annabel"}, "custom_data": {"tier": "gold-value"},
        "custom_app_data": {"plan": "plan-value"}, "external_account_id": "acct-value",
        "credentials": {"password": "Pass-word-value-1"}
    });
    let res = send(
        &app,
        (Method::POST, "/v1/users"),
        &admin,
        Some(&body),
        "create-1",
    )
    .await;
    let user = id_of(&res, "/result/user_id");
    let change = json!({"email": "new.secret@example.com", "custom_data": {"tier": null, "seen": "seen-value"},
                        "name": {"first_name": "Annabel"}});
    let path = format!("/v1/users/{user}");
    let res = send(
        &app,
        (Method::PUT, &path),
        &admin,
        Some(&change),
        "update-1",
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let res = app
        .call(
            Method::POST,
            "/v1/applications",
            Some(&admin),
            Some(&json!({"app_name": "shop"})),
        )
        .await;
    let shop = id_of(&res, "/result/app_id");
    let first_secret = id_of(&res, "/result/client_secret");
    let client = id_of(&res, "/result/client_id");
    let rotate = format!("/v1/admin/applications/{shop}/clients/{client}/rotate-secret");
    let rotated = app.with_token(Method::POST, &rotate, &admin).await;
    let second_secret = id_of(&rotated, "/client_secret");

    let create = &stored_for(&app, "create-1").await[0];
    assert_eq!(
        create["changed"],
        json!([
            "email",
            "phone_number",
            "name",
            "custom_data.tier",
            "credentials",
            "external_account_id",
            "custom_app_data.plan"
        ])
    );
    let update = &stored_for(&app, "update-1").await[0];
    // The name was given unchanged: not a change.
    assert_eq!(
        update["changed"],
        json!(["email", "custom_data.seen", "custom_data.tier"])
    );

    let hashes: Vec<String> = sqlx::query_scalar("SELECT secret_hash FROM clients")
        .fetch_all(&mut app.db.connect().await)
        .await
        .unwrap();
    let password_hash: String = sqlx::query_scalar("SELECT password_hash FROM users")
        .fetch_one(&mut app.db.connect().await)
        .await
        .unwrap();
    let read = read_until(&app, &admin, |e| e.len() >= 4).await;
    let everything = format!("{:?}{:?}", stored(&app).await, read).to_lowercase();
    let values = [
        "ann.secret@example.com",
        "new.secret@example.com",
        "12125550177",
        "annabel",
        "gold-value",
        "seen-value",
        "plan-value",
        "acct-value",
        "pass-word-value-1",
        &first_secret.to_lowercase(),
        &second_secret.to_lowercase(),
        &password_hash.to_lowercase(),
    ];
    for value in values.into_iter().chain(hashes.iter().map(String::as_str)) {
        assert!(
            !everything.contains(&value.to_lowercase()),
            "{value:?} is in the trail: {everything}"
        );
    }
}

#[actix_web::test]
async fn a_refused_mutation_leaves_no_event() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let ann = app.new_user(&admin, "ann@example.com").await;
    app.new_user(&admin, "bob@example.com").await;
    let before = stored(&app).await.len();

    let refused = [
        (
            Method::POST,
            "/v1/users".to_owned(),
            json!({"email": "ann@example.com"}),
            409,
        ),
        (
            Method::PUT,
            format!("/v1/users/{ann}"),
            json!({"email": "bob@example.com"}),
            409,
        ),
        (
            Method::POST,
            "/v1/users".to_owned(),
            json!({"email": "not an email"}),
            400,
        ),
        (
            Method::PUT,
            "/v1/users/nobody".to_owned(),
            json!({"custom_data": {"a": 1}}),
            404,
        ),
        (
            Method::POST,
            "/v1/admin/groups".to_owned(),
            json!({"name": ""}),
            400,
        ),
    ];
    for (i, (method, path, body, status)) in refused.into_iter().enumerate() {
        let rid = format!("refused-{i}");
        let res = send(&app, (method.clone(), &path), &admin, Some(&body), &rid).await;
        assert_eq!(res.status, status, "{method} {path}: {}", res.text);
        assert!(stored_for(&app, &rid).await.is_empty(), "{method} {path}");
    }
    let res = app
        .with_body(
            Method::POST,
            "/v1/admin/groups",
            &admin,
            &json!({"name": "g"}),
        )
        .await;
    let group = id_of(&res, "/result/group_id");
    let add = format!("/v1/admin/groups/{group}/members");
    let body = json!({"user_ids": [ann, "nobody"]});
    let res = send(
        &app,
        (Method::POST, &add),
        &admin,
        Some(&body),
        "refused-members",
    )
    .await;
    assert_eq!(res.status, 404, "{}", res.text);
    assert!(stored_for(&app, "refused-members").await.is_empty());
    assert_eq!(
        stored(&app).await.len(),
        before + 1,
        "only the group's creation"
    );
}

#[actix_web::test]
async fn a_user_update_rolled_back_after_its_first_write_leaves_no_event() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let user = app.new_user(&admin, "ann@example.com").await;
    let path = format!("/v1/users/{user}");
    let half = "x".repeat(10 * 1024);
    let first = json!({"custom_app_data": {"a": half}});
    let res = send(&app, (Method::PUT, &path), &admin, Some(&first), "fits").await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(stored_for(&app, "fits").await.len(), 1);

    // The profile (and the event riding on it) is written first; the
    // merged app data then passes its limit, and the whole update goes.
    let second = json!({"email": "changed@example.com", "custom_app_data": {"b": half}});
    let res = send(&app, (Method::PUT, &path), &admin, Some(&second), "too-big").await;
    assert_eq!(res.status, 400, "{}", res.text);
    assert!(stored_for(&app, "too-big").await.is_empty());
    let res = app.with_token(Method::GET, &path, &admin).await;
    assert_eq!(res.json()["result"]["email"]["value"], "ann@example.com");
}

#[actix_web::test]
async fn a_refusal_leaves_a_denial_event_naming_the_actor_policy_and_route() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, shop) = app.create_app(&admin, "shop").await;
    let client = app.token_for(&shop).await;

    let res = send(
        &app,
        (Method::GET, "/v1/admin/groups"),
        &client,
        None,
        "probe-1",
    )
    .await;
    assert_eq!(res.status, 403, "{}", res.text);
    let events = stored_for(&app, "probe-1").await;
    assert_eq!(events.len(), 1, "{events:#?}");
    let e = &events[0];
    assert_eq!(e["action"], "access.denied");
    assert_eq!(e["subject_id"], "GroupsList");
    assert_eq!(e["actor_kind"], "client");
    assert_eq!(e["actor_client_id"], shop.client_id);
    assert_eq!(e["route"], "GET /v1/admin/groups");
    assert_eq!(e["tenant_id"], read_claims(&client).tid);

    // A client cannot read the trail either, and that too is recorded.
    let res = send(
        &app,
        (Method::GET, "/v1/admin/audit-events"),
        &client,
        None,
        "probe-2",
    )
    .await;
    assert_eq!(res.status, 403, "{}", res.text);
    assert_eq!(
        stored_for(&app, "probe-2").await[0]["subject_id"],
        "AuditRead"
    );
}

#[actix_web::test]
async fn a_refusal_that_cannot_be_recorded_is_still_a_403() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, shop) = app.create_app(&admin, "shop").await;
    let client = app.token_for(&shop).await;
    sqlx::query("ALTER TABLE audit_events RENAME TO audit_events_away")
        .execute(&mut app.db.connect().await)
        .await
        .unwrap();

    let res = app
        .with_token(Method::GET, "/v1/admin/groups", &client)
        .await;
    assert_eq!(res.status, 403, "{}", res.text);
}

#[actix_web::test]
async fn refusals_are_recorded_at_a_bounded_rate() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, shop) = app.create_app(&admin, "shop").await;
    let client = app.token_for(&shop).await;

    let started = Instant::now();
    let refusals = (0..40).map(|_| app.with_token(Method::GET, "/v1/admin/groups", &client));
    for res in futures_util::future::join_all(refusals).await {
        assert_eq!(res.status, 403, "{}", res.text);
    }
    // A burst of four, and what refilled at two a second meanwhile.
    let most = 4 + (2.0 * started.elapsed().as_secs_f64()).ceil() as usize;
    assert!(most < 40, "too slow to tell: {:?}", started.elapsed());
    let denials = stored(&app)
        .await
        .into_iter()
        .filter(|e| e["action"] == "access.denied")
        .count();
    assert!(
        (1..=most).contains(&denials),
        "{denials} of 40 recorded, at most {most}"
    );
}

#[actix_web::test]
async fn paging_with_next_after_returns_every_event_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    for i in 0..7 {
        let res = app
            .with_body(
                Method::POST,
                "/v1/admin/groups",
                &admin,
                &json!({"name": format!("g{i}")}),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.text);
    }
    let all = read_until(&app, &admin, |e| e.len() >= 7).await;

    let (paged, last) = read_on_until(&app, &admin, None, 3, |e| e.len() >= all.len()).await;
    let ids: Vec<i64> = paged
        .iter()
        .map(|e| e["event_id"].as_i64().unwrap())
        .collect();
    let unique: BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "an event came twice: {ids:?}");
    let stored_ids: BTreeSet<i64> = stored(&app)
        .await
        .iter()
        .map(|e| e["event_id"].as_i64().unwrap())
        .collect();
    assert_eq!(unique, stored_ids);
    assert_eq!(paged.len(), all.len());
    assert_eq!(last, ids.last().copied());

    let res = app
        .with_token(
            Method::GET,
            "/v1/admin/audit-events?after=999999&page_limit=0",
            &admin,
        )
        .await;
    assert_eq!(res.status, 400, "{}", res.text);
    assert_eq!(
        res.json()["message"].as_array().unwrap().len(),
        1,
        "{}",
        res.text
    );
    let res = app
        .with_token(Method::GET, "/v1/admin/audit-events?after=999999", &admin)
        .await;
    assert_eq!(res.status, 400, "an id of no event: {}", res.text);
}

#[actix_web::test]
async fn an_event_is_held_back_while_an_older_transaction_of_the_database_runs() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let tenant = read_claims(&admin).tid;
    let cursor = cursor_at_end(&app, &admin).await;

    let mut in_flight = app.db.connect().await;
    let mut tx = in_flight.begin().await.unwrap();
    insert_probe(&mut tx, &tenant, "probe.early").await;
    let res = app
        .with_body(
            Method::POST,
            "/v1/admin/groups",
            &admin,
            &json!({"name": "later"}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);

    // Committed, but after a transaction that may still add an event
    // before it: not given out yet, or a reader would pass that one.
    let (events, held) = read_on(&app, &admin, cursor, 100).await;
    assert!(events.is_empty(), "{events:#?}");
    tx.commit().await.unwrap();

    let (events, _) = read_on_until(&app, &admin, held, 100, |e| e.len() >= 2).await;
    assert_eq!(actions(&events), ["probe.early", "group.create"]);
}

#[actix_web::test]
async fn an_event_numbered_before_one_already_read_is_still_read_once_its_transaction_commits() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let tenant = read_claims(&admin).tid;
    let cursor = cursor_at_end(&app, &admin).await;

    // A began writing first; B takes the lower event id; A commits first.
    let (mut a, mut b) = (app.db.connect().await, app.db.connect().await);
    let mut tx_a = a.begin().await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *tx_a)
        .await
        .unwrap();
    let mut tx_b = b.begin().await.unwrap();
    insert_probe(&mut tx_b, &tenant, "probe.b").await;
    insert_probe(&mut tx_a, &tenant, "probe.a").await;
    tx_a.commit().await.unwrap();

    let (first, cursor) = read_on_until(&app, &admin, cursor, 100, |e| !e.is_empty()).await;
    assert_eq!(actions(&first), ["probe.a"]);
    tx_b.commit().await.unwrap();
    // Ordered by id, B's event would lie behind the cursor, never read.
    let (then, _) = read_on_until(&app, &admin, cursor, 100, |e| !e.is_empty()).await;
    assert_eq!(actions(&then), ["probe.b"]);
    let ids = [&first[0], &then[0]].map(|e| e["event_id"].as_i64().unwrap());
    assert!(ids[1] < ids[0], "B's id is the lower one: {ids:?}");
}

#[actix_web::test]
async fn a_long_transaction_in_another_database_does_not_hold_the_trail_back() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let mut elsewhere = PgConnection::connect_with(&idstore_tests::db::server_options().await)
        .await
        .unwrap();
    let mut tx = elsewhere.begin().await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *tx)
        .await
        .unwrap();

    let res = app
        .with_body(
            Method::POST,
            "/v1/admin/groups",
            &admin,
            &json!({"name": "g"}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    read_until(&app, &admin, |e| actions(e).contains(&"group.create")).await;
    tx.rollback().await.unwrap();
}

#[actix_web::test]
async fn another_tenants_admin_sees_none_of_the_events() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.new_user(&admin, "ann@example.com").await;
    let ours = read_until(&app, &admin, |e| !e.is_empty()).await;
    let (_, other) = app.second_tenant("other").await;
    app.new_user(&other, "theirs@example.com").await;

    let theirs = read_until(&app, &other, |e| !e.is_empty()).await;
    assert_eq!(actions(&theirs), ["user.create"]);
    let our_ids: BTreeSet<i64> = ours
        .iter()
        .map(|e| e["event_id"].as_i64().unwrap())
        .collect();
    assert!(
        theirs
            .iter()
            .all(|e| !our_ids.contains(&e["event_id"].as_i64().unwrap())),
        "{theirs:#?}"
    );
    // Nor can it page from one of ours.
    let after = ours[0]["event_id"].as_i64().unwrap();
    let path = format!("/v1/admin/audit-events?after={after}");
    let res = app.with_token(Method::GET, &path, &other).await;
    assert_eq!(res.status, 400, "{}", res.text);
}

#[actix_web::test]
async fn a_key_rotation_from_the_command_line_is_recorded_as_done_by_cli() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let tenant = read_claims(&admin).tid;
    let old_kid: String = sqlx::query_scalar("SELECT kid FROM signing_keys")
        .fetch_one(&mut app.db.connect().await)
        .await
        .unwrap();
    let pool = idstore_store::connect_pool(
        &app.db.options,
        &idstore_store::PoolSettings::for_commands(1),
    );
    let rotated = idstore_server::bootstrap::rotate_keys(
        &pool,
        &app.kek,
        Some(&tenant),
        std::time::Duration::ZERO,
    )
    .await
    .unwrap();

    let events = stored(&app).await;
    let e = events
        .iter()
        .find(|e| e["action"] == "signing_key.rotate")
        .unwrap_or_else(|| panic!("{events:#?}"));
    assert_eq!(e["actor_kind"], "cli");
    assert_eq!(e["route"], "idstore keys rotate");
    assert_eq!(e["subject_id"], rotated[0].kid);
    assert_eq!(e["refs"], json!({"retired_kids": [old_kid]}));
    assert_eq!(e["tenant_id"], tenant);
}
