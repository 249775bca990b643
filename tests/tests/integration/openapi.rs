//! The API document: as served (`/openapi.json` and the `/docs` page, both
//! without a token, the page's assets from inside the binary), and as
//! committed, compared with the vendor's documents.

use actix_web::http::Method as M;
use idstore_tests::login::PASSWORD;
use idstore_tests::spec::{
    Spec, idstore_spec, vendor_applications_spec, vendor_members_spec, vendor_organizations_spec,
    vendor_users_spec,
};
use idstore_tests::{TestApp, TestResponse};
use serde_json::{Value, json};

/// The committed snapshot, which the API crate's own test keeps equal to
/// the generated document.
const SNAPSHOT: &str = include_str!("../../../openapi/idstore.json");

#[actix_web::test]
async fn the_document_is_served_without_a_token_and_is_the_snapshot() {
    let app = TestApp::spawn().await;
    let res = app.get("/openapi.json").await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(
        res.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let snapshot: Value = serde_json::from_str(SNAPSHOT).unwrap();
    assert_eq!(res.json(), snapshot);
    assert_eq!(res.json()["openapi"], "3.1.0");
}

#[actix_web::test]
async fn the_docs_page_and_its_assets_load_with_their_content_types() {
    let app = TestApp::spawn().await;

    let res = app.get("/docs").await;
    assert_eq!(res.status, 308, "{}", res.text);
    assert_eq!(res.header("location"), Some("/docs/"));

    let page = app.get("/docs/").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    // Every asset the page names is served, from the binary.
    let assets: Vec<&str> = [
        "./swagger-ui.css",
        "./swagger-ui-bundle.js",
        "./swagger-initializer.js",
    ]
    .into_iter()
    .filter(|a| page.text.contains(a))
    .collect();
    assert_eq!(
        assets.len(),
        3,
        "the page names other assets: {}",
        page.text
    );
    for (asset, content_type) in [
        ("swagger-ui.css", "text/css; charset=utf-8"),
        ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
        ("swagger-initializer.js", "text/javascript; charset=utf-8"),
    ] {
        let res = app.get(&format!("/docs/{asset}")).await;
        assert_eq!(res.status, 200, "{asset}: {}", res.text);
        assert_eq!(res.header("content-type"), Some(content_type), "{asset}");
        assert!(res.text.len() > 100, "{asset} is empty");
    }
    // The assets change only with the binary; the page and its
    // configuration are refetched.
    let bundle = app.get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(bundle.header("cache-control"), Some("public, max-age=3600"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    // The page reads this server's document.
    let initializer = app.get("/docs/swagger-initializer.js").await;
    assert!(
        initializer.text.contains("\"/openapi.json\""),
        "{}",
        initializer.text
    );

    let missing = app.get("/docs/nothing-here.js").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error_code"], 404, "{}", missing.text);
}

/// Statuses idstore's document adds to one of the vendor's operations, and
/// the reading (docs/SPEC_READINGS.md) that says why. Every operation that
/// needs a token also gets 401 and 403 (#20) and 503 (#23).
const ADDED_STATUSES: &[(&str, &str, u32)] = &[
    ("updateUser", "409", 13),
    ("verifyUserEmail", "400", 19),
    ("verifyUserEmail", "409", 13),
    ("verifyUserPhoneNumber", "400", 19),
    ("verifyUserPhoneNumber", "409", 13),
    ("deleteTenantUser", "400", 19),
    ("createAppClient", "404", 26),
    ("getAppClients", "404", 26),
    ("addPasswordCredentialsToCurrentUser", "400", 34),
    ("getOrganization", "400", 37),
    ("getOrganizationByName", "400", 37),
    ("deleteOrganization", "204", 37),
    ("updateOrganization", "409", 38),
    ("createMember", "400", 12),
    ("createMember", "404", 41),
    ("getMembers", "400", 41),
    ("getMembers", "404", 41),
    ("updateMember", "400", 41),
    ("updateMember", "404", 41),
    ("deleteMember", "400", 41),
    ("deleteMember", "404", 41),
    ("setAssignedRoleGroups", "400", 42),
    ("setAssignedRoleGroups", "404", 42),
    ("getAssignedRoleGroups", "400", 42),
    ("getAssignedRoleGroups", "404", 42),
    ("setMemberRoles", "400", 42),
    ("setMemberRoles", "404", 42),
];
const EVERY_GUARDED_OPERATION: &[(&str, u32)] = &[("401", 20), ("403", 20), ("503", 23)];

/// Parameters idstore adds to one of the vendor's operations, with their reading.
const ADDED_PARAMETERS: &[(&str, &str, u32)] = &[
    ("getUsers", "organization_id", 9),
    ("getMembers", "page_limit", 41),
    ("getMembers", "after", 41),
];

/// The vendor's documents as the repository keeps them, by the file name
/// idstore's operations cite in `x-idstore-vendor`.
fn vendor(file: &str) -> &'static Spec {
    match file {
        "openapi/vendor/users.json" => vendor_users_spec(),
        "openapi/vendor/applications.json" => vendor_applications_spec(),
        "openapi/vendor/organizations.json" => vendor_organizations_spec(),
        "openapi/vendor/members.json" => vendor_members_spec(),
        other => panic!("no vendor document {other}"),
    }
}

/// Every operation of idstore's document: (path, method, operation).
fn operations(doc: &Value) -> Vec<(&str, &str, &Value)> {
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .iter()
                .map(move |(method, op)| (path.as_str(), method.as_str(), op))
        })
        .collect()
}

/// The shape of a path, placeholders numbered: `{appId}` and `{app_id}` match.
fn shape(path: &str) -> String {
    idstore_api::openapi::path_shape(path)
}

/// `value` without the keys idstore adds to describe what the vendor's
/// prose-less copy does not (`description`, `x-idstore-*`).
fn without_annotations(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| *k != "description" && !k.starts_with("x-idstore"))
                .map(|(k, v)| (k.clone(), without_annotations(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Where `a` and `b` first differ, as a path below `at`, and their values there.
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                let missing = Value::Null;
                let (here, there) = (x.get(k).unwrap_or(&missing), y.get(k).unwrap_or(&missing));
                first_difference(here, there, &format!("{at}.{k}"))
            })
        }
        _ if a == b => None,
        _ => Some(format!("{at} ({a} here, {b} there)")),
    }
}

/// Every component `node` reaches, through references, in `doc`.
fn reachable(doc: &Value, node: &Value, seen: &mut std::collections::BTreeSet<String>) {
    match node {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                && seen.insert(name.to_owned())
            {
                reachable(doc, &doc["components"]["schemas"][name], seen);
            }
            map.values().for_each(|v| reachable(doc, v, seen));
        }
        Value::Array(items) => items.iter().for_each(|v| reachable(doc, v, seen)),
        _ => {}
    }
}

/// For every one of the vendor's operations idstore serves: the same path,
/// method, parameters, bodies, answers, schemas and security as the
/// vendor's document, except the additions listed above, each of which
/// must cite its reading.
#[test]
fn the_vendors_operations_are_the_vendors_contract_plus_the_listed_readings() {
    let ours = idstore_spec();
    let mut differences = Vec::new();
    let mut spec_d = 0;
    for (path, method, op) in operations(&ours.doc) {
        let id = op["operationId"].as_str().unwrap();
        let Some(file) = op["x-idstore-vendor"].as_str() else {
            continue;
        };
        spec_d += 1;
        let theirs = vendor(file);
        let Some((vendor_path, vendor_method)) = theirs.location(id) else {
            differences.push(format!("{id}: not an operation of {file}"));
            continue;
        };
        let vendor_op = theirs.operation(id);
        if vendor_method != method || shape(vendor_path) != shape(path) {
            differences.push(format!(
                "{id}: {method} {path} here, {vendor_method} {vendor_path} in {file}"
            ));
        }
        // Parameters, path ones by position (the vendor names them its own way).
        let names: Vec<(&str, &str)> = idstore_api::openapi::placeholders(vendor_path)
            .into_iter()
            .zip(idstore_api::openapi::placeholders(path))
            .collect();
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        for theirs_param in vendor_op["parameters"].as_array().into_iter().flatten() {
            let mut expected = theirs_param.clone();
            if let Some((_, ours_name)) = names.iter().find(|(v, _)| expected["name"] == *v)
                && expected["in"] == "path"
            {
                expected["name"] = json!(ours_name);
            }
            let found = params
                .iter()
                .find(|p| p["name"] == expected["name"] && p["in"] == expected["in"]);
            match found {
                Some(p) if without_annotations(p) == without_annotations(&expected) => {}
                Some(p) => differences.push(format!("{id}: parameter {p} is {expected} in {file}")),
                None => differences.push(format!("{id}: parameter {expected} is missing")),
            }
        }
        for p in &params {
            let name = p["name"].as_str().unwrap();
            let in_vendor = vendor_op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|v| {
                    v["in"] == p["in"]
                        && (v["name"] == name
                            || names.iter().any(|(vn, on)| v["name"] == *vn && *on == name))
                });
            if in_vendor {
                continue;
            }
            match ADDED_PARAMETERS
                .iter()
                .find(|(o, n, _)| *o == id && *n == name)
            {
                Some((_, _, reading)) => {
                    let cited = p["description"]
                        .as_str()
                        .is_some_and(|d| d.contains(&format!("SPEC_READINGS #{reading}")));
                    if !cited || p["x-idstore-extension"] != true {
                        differences.push(format!(
                            "{id}: added parameter {name} must be marked and cite #{reading}: {p}"
                        ));
                    }
                }
                None => differences.push(format!("{id}: parameter {name} is not in {file}")),
            }
        }
        for key in ["requestBody", "security", "deprecated"] {
            if without_annotations(&op[key]) != without_annotations(&vendor_op[key]) {
                differences.push(format!(
                    "{id}: {key} is {} here, {} in {file}",
                    op[key], vendor_op[key]
                ));
            }
        }
        // Answers: the vendor's, each unchanged, and only the listed additions.
        let responses = op["responses"].as_object().unwrap();
        for (status, theirs_response) in vendor_op["responses"].as_object().unwrap() {
            match responses.get(status) {
                Some(r) if without_annotations(r) == without_annotations(theirs_response) => {}
                Some(r) => differences.push(format!(
                    "{id} {status}: {r} here, {theirs_response} in {file}"
                )),
                None => differences.push(format!("{id}: the vendor's {status} is missing")),
            }
        }
        let guarded = op["security"].as_array().is_some_and(|s| !s.is_empty());
        for (status, response) in responses {
            if vendor_op["responses"].get(status).is_some() {
                continue;
            }
            let listed = ADDED_STATUSES
                .iter()
                .find(|(o, s, _)| *o == id && s == status)
                .map(|(_, _, r)| *r)
                .or_else(|| {
                    EVERY_GUARDED_OPERATION
                        .iter()
                        .find(|(s, _)| guarded && s == status)
                        .map(|(_, r)| *r)
                });
            match listed {
                Some(reading) => {
                    let cited = response["description"]
                        .as_str()
                        .is_some_and(|d| d.contains(&format!("SPEC_READINGS #{reading}")));
                    if !cited {
                        differences.push(format!(
                            "{id} {status}: must cite SPEC_READINGS #{reading}: {response}"
                        ));
                    }
                }
                None => {
                    differences.push(format!("{id}: {status} is not in {file} nor listed here"))
                }
            }
        }
        for (o, s, _) in ADDED_STATUSES.iter().filter(|(o, _, _)| *o == id) {
            if !responses.contains_key(*s) {
                differences.push(format!("{o}: the listed {s} is not in the document"));
            }
        }
        // The schemas the vendor's parts reach are the vendor's, by name
        // (the additions answer in idstore's or the Users API's shapes).
        let mut vendor_parts = op.clone();
        if let Some(map) = vendor_parts["responses"].as_object_mut() {
            map.retain(|status, _| vendor_op["responses"].get(status).is_some());
        }
        let mut names = std::collections::BTreeSet::new();
        reachable(&ours.doc, &vendor_parts, &mut names);
        for name in names {
            let here = &ours.doc["components"]["schemas"][&name];
            let there = &theirs.doc["components"]["schemas"][&name];
            if let Some(at) = first_difference(here, there, &name) {
                let line = format!("schema {at} differs from {file}");
                if !differences.contains(&line) {
                    differences.push(line);
                }
            }
        }
    }
    assert!(
        spec_d >= 29,
        "only {spec_d} of the vendor's operations are documented"
    );
    assert!(
        differences.is_empty(),
        "idstore's document and the vendor's differ:\n{}",
        differences.join("\n")
    );
}

/// An operation is the vendor's or idstore's own, never unmarked; an
/// extension takes no vendor operation's id, nor a path and method where
/// the vendor has an operation (which would then be spoken unmarked).
#[test]
fn every_operation_is_the_vendors_or_a_marked_extension() {
    let ours = idstore_spec();
    let vendors = [
        vendor_users_spec(),
        vendor_applications_spec(),
        vendor_organizations_spec(),
        vendor_members_spec(),
    ];
    for (path, method, op) in operations(&ours.doc) {
        let id = op["operationId"].as_str().unwrap();
        let tags = &op["tags"];
        if op.get("x-idstore-vendor").is_some() {
            assert!(
                [
                    json!(["Users"]),
                    json!(["Applications"]),
                    json!(["Organizations"]),
                    json!(["Members"]),
                ]
                .contains(tags),
                "{id}: {tags}"
            );
            assert!(op.get("x-idstore-extension").is_none(), "{id}");
            continue;
        }
        assert_eq!(
            op["x-idstore-extension"], true,
            "{id} is neither the vendor's nor marked"
        );
        assert_eq!(*tags, json!(["idstore extension"]), "{id}");
        for v in vendors {
            assert!(
                v.location(id).is_none(),
                "the extension {id} has a vendor operation's id"
            );
            for vendor_id in v.operation_ids() {
                let (vendor_path, vendor_method) = v.location(vendor_id).unwrap();
                assert!(
                    !(vendor_method == method && shape(vendor_path) == shape(path)),
                    "the extension {id} is at the vendor's {vendor_id} ({method} {path})"
                );
            }
        }
    }
}

/// Extensions whose answers are not JSON: their content types are checked
/// above and in `metrics.rs`.
const NOT_JSON: &[&str] = &[
    "getOpenApiDocument",
    "redirectToDocs",
    "getDocsFile",
    "getMetrics",
];

/// Each of idstore's own operations, called once on the happy path and
/// once on a documented error, its answers checked against the schemas the
/// document generates for it, so that those cannot describe something the
/// code does not answer.
#[actix_web::test]
async fn every_extension_answers_as_its_document_says() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (app_id, client) = app.create_app(&admin, "documented").await;
    let user_id = app.new_user(&admin, "documented@example.com").await;
    let mut checked = std::collections::BTreeSet::new();
    let mut check = |id: &'static str, res: &TestResponse| {
        idstore_spec().assert_http_response(id, res);
        checked.insert(id);
    };
    let admin = admin.as_str();

    check("getLiveness", &app.get("/healthz").await);
    check("getReadiness", &app.get("/readyz").await);
    check("getJwks", &app.get("/oidc/jwks").await);
    check(
        "getOpenIdConfiguration",
        &app.get("/.well-known/openid-configuration").await,
    );
    check("issueToken", &app.authenticate(&client).await);
    let bad_grant = app.token_request(&[("grant_type", "password")], None).await;
    assert_eq!(bad_grant.status, 400, "{}", bad_grant.text);
    check("issueToken", &bad_grant);

    let groups = "/v1/admin/groups";
    let created = app
        .with_body(
            M::POST,
            groups,
            admin,
            &json!({"name": "documented", "custom_data": {"a": 1}}),
        )
        .await;
    check("createGroup", &created);
    let group_id = created.json()["result"]["group_id"]
        .as_str()
        .unwrap()
        .to_owned();
    check(
        "createGroup",
        &app.with_body(M::POST, groups, admin, &json!({"name": "documented"}))
            .await,
    );
    check("getGroups", &app.with_token(M::GET, groups, admin).await);
    let group = format!("{groups}/{group_id}");
    check("getGroupById", &app.with_token(M::GET, &group, admin).await);
    check(
        "getGroupById",
        &app.with_token(M::GET, &format!("{groups}/nosuchgroup"), admin)
            .await,
    );
    let members = format!("{group}/members");
    check(
        "addGroupMembers",
        &app.with_body(M::POST, &members, admin, &json!({"user_ids": [user_id]}))
            .await,
    );
    check(
        "addGroupMembers",
        &app.with_body(M::POST, &members, admin, &json!({"user_ids": []}))
            .await,
    );
    check(
        "removeGroupMember",
        &app.with_token(M::DELETE, &format!("{members}/{user_id}"), admin)
            .await,
    );
    check(
        "deleteGroup",
        &app.with_token(M::DELETE, &group, admin).await,
    );

    let roles = format!("/v1/applications/{app_id}/roles");
    let role = app
        .with_body(
            M::POST,
            &roles,
            admin,
            &json!({"role_name": "viewer", "permissions": ["a:b"]}),
        )
        .await;
    check("createAppRole", &role);
    check(
        "createAppRole",
        &app.with_body(M::POST, &roles, admin, &json!({"role_name": "viewer"}))
            .await,
    );
    check("getAppRoles", &app.with_token(M::GET, &roles, admin).await);
    let role_id = role.json()["result"]["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let role_groups = format!("/v1/applications/{app_id}/role-groups");
    let group = app
        .with_body(
            M::POST,
            &role_groups,
            admin,
            &json!({"name": "viewers", "description": "d", "role_ids": [role_id]}),
        )
        .await;
    check("createRoleGroup", &group);
    check(
        "createRoleGroup",
        &app.with_body(
            M::POST,
            &role_groups,
            admin,
            &json!({"name": "viewers", "role_ids": []}),
        )
        .await,
    );
    check(
        "getRoleGroups",
        &app.with_token(M::GET, &role_groups, admin).await,
    );
    let group_id = group.json()["result"]["group_id"]
        .as_str()
        .unwrap()
        .to_owned();
    check(
        "deleteRoleGroup",
        &app.with_token(M::DELETE, &format!("{role_groups}/{group_id}"), admin)
            .await,
    );
    check(
        "deleteAppRole",
        &app.with_token(M::DELETE, &format!("{roles}/{role_id}"), admin)
            .await,
    );

    let permissions = format!("/v1/admin/applications/{app_id}/user-permissions");
    check(
        "getAppUserPermissions",
        &app.with_token(M::GET, &permissions, admin).await,
    );
    check(
        "setAppUserPermissions",
        &app.with_body(
            M::PUT,
            &permissions,
            admin,
            &json!({"change_status": false}),
        )
        .await,
    );
    check(
        "setAppUserPermissions",
        &app.with_body(M::PUT, &permissions, admin, &json!({"change_status": "no"}))
            .await,
    );
    let rotate = format!(
        "/v1/admin/applications/{app_id}/clients/{}/rotate-secret",
        client.client_id
    );
    check(
        "rotateAppClientSecret",
        &app.with_token(M::POST, &rotate, admin).await,
    );

    // Passwords and the login.
    let policy = "/v1/admin/password-policy";
    check(
        "getPasswordPolicy",
        &app.with_token(M::GET, policy, admin).await,
    );
    check(
        "setPasswordPolicy",
        &app.with_body(M::PUT, policy, admin, &json!({"history_depth": 2}))
            .await,
    );
    check(
        "setPasswordPolicy",
        &app.with_body(M::PUT, policy, admin, &json!({"min_length": 3}))
            .await,
    );
    let app_policy = format!("/v1/admin/applications/{app_id}/password-policy");
    check(
        "getAppPasswordPolicy",
        &app.with_token(M::GET, &app_policy, admin).await,
    );
    check(
        "setAppPasswordPolicy",
        &app.with_body(M::PUT, &app_policy, admin, &json!({"min_length": 20}))
            .await,
    );
    check(
        "deleteAppPasswordPolicy",
        &app.with_token(M::DELETE, &app_policy, admin).await,
    );
    check(
        "deleteAppPasswordPolicy",
        &app.with_token(M::DELETE, &app_policy, admin).await,
    );
    let shop = app.login_app(admin, "documented-login").await;
    let email = "signer@example.com";
    let signer = app.user_with_password(admin, email, PASSWORD).await;
    check("passwordLogin", &app.login(&shop, email, PASSWORD).await);
    check(
        "passwordLogin",
        &app.login(&shop, email, "not-the-password-at-all").await,
    );
    check(
        "passwordLogin",
        &app.login_with(&shop, json!({"password": PASSWORD})).await,
    );
    let temporary = json!({"password": "temporary-password-77", "force_replace": true});
    let res = app
        .with_body(
            M::PUT,
            &format!("/v1/users/{signer}/password"),
            admin,
            &temporary,
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let res = app.login(&shop, email, "temporary-password-77").await;
    check("passwordLogin", &res);
    let reset = json!({"reset_token": res.json()["result"]["reset_token"], "password": "short"});
    let reset_path = "/v1/auth/password/reset";
    check(
        "passwordReset",
        &app.with_body(M::POST, reset_path, &shop.token, &reset)
            .await,
    );
    let reset = json!({"reset_token": reset["reset_token"], "password": "a-new-and-long-password"});
    check(
        "passwordReset",
        &app.with_body(M::POST, reset_path, &shop.token, &reset)
            .await,
    );
    let unlock = format!("/v1/admin/users/{signer}/unlock");
    check("unlockUser", &app.with_token(M::POST, &unlock, admin).await);
    check(
        "unlockUser",
        &app.with_token(M::POST, "/v1/admin/users/nobody/unlock", admin)
            .await,
    );
    let user_token = app.sign_in(&shop, email, "a-new-and-long-password").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let keys = "/v1/users/me/device-keys";
    let key = json!({"public_key": {"kty": "EC", "crv": "P-256",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}});
    let added = app.with_body(M::POST, keys, &user_token, &key).await;
    check("addDeviceKey", &added);
    check(
        "addDeviceKey",
        &app.with_body(
            M::POST,
            keys,
            &user_token,
            &json!({"public_key": {"kty": "RSA"}}),
        )
        .await,
    );
    let key_id = added.json()["result"]["key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key_path = format!("{keys}/{key_id}");
    check(
        "revokeDeviceKey",
        &app.with_token(M::DELETE, &key_path, &user_token).await,
    );
    check(
        "revokeDeviceKey",
        &app.with_token(M::DELETE, &key_path, &user_token).await,
    );

    let events = app
        .with_token(M::GET, "/v1/admin/audit-events", admin)
        .await;
    assert!(
        !events.json()["result"].as_array().unwrap().is_empty(),
        "{}",
        events.text
    );
    check("getAuditEvents", &events);
    check(
        "getAuditEvents",
        &app.with_token(M::GET, "/v1/admin/audit-events?page_limit=0", admin)
            .await,
    );
    check(
        "getAuditEvents",
        &app.call(M::GET, "/v1/admin/audit-events", None, None).await,
    );

    // Invitations, without a mail transport (their mail: invitations.rs).
    let org = app.new_org(admin, "documented").await;
    let invitations = format!("/v1/organizations/{org}/invitations");
    check(
        "getInvitations",
        &app.with_token(M::GET, &invitations, admin).await,
    );
    check(
        "getInvitations",
        &app.with_token(M::GET, &format!("{invitations}?status=lost"), admin)
            .await,
    );
    check(
        "getInvitations",
        &app.with_token(M::GET, "/v1/organizations/nosuchorg/invitations", admin)
            .await,
    );
    check(
        "resendInvitation",
        &app.with_token(M::POST, &format!("{invitations}/nosuch/resend"), admin)
            .await,
    );
    check(
        "revokeInvitation",
        &app.with_token(M::POST, &format!("{invitations}/nosuch/revoke"), admin)
            .await,
    );
    check(
        "acceptInvitation",
        &app.with_body(
            M::POST,
            "/v1/auth/invitations/accept",
            admin,
            &json!({"invitation_token": "not-a-token"}),
        )
        .await,
    );

    let extensions: std::collections::BTreeSet<&str> = operations(&idstore_spec().doc)
        .into_iter()
        .filter(|(_, _, op)| op["x-idstore-extension"] == true)
        .map(|(_, _, op)| op["operationId"].as_str().unwrap())
        .filter(|id| !NOT_JSON.contains(id))
        .collect();
    let unchecked: Vec<_> = extensions.difference(&checked).collect();
    assert!(
        unchecked.is_empty(),
        "extensions this test does not call: {unchecked:?}"
    );
}

/// A reading the document cites is one `docs/SPEC_READINGS.md` has.
#[test]
fn every_reading_the_document_cites_exists() {
    let readings = include_str!("../../../docs/SPEC_READINGS.md");
    let numbered: std::collections::BTreeSet<u32> = readings
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .collect();
    assert!(numbered.len() >= 30, "{numbered:?}");
    let text = SNAPSHOT;
    let cited: std::collections::BTreeSet<u32> = text
        .split("SPEC_READINGS #")
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect();
    assert!(cited.len() >= 20, "{cited:?}");
    let unknown: Vec<_> = cited.difference(&numbered).collect();
    assert!(
        unknown.is_empty(),
        "the document cites readings that do not exist: {unknown:?}"
    );
}
