//! idstore's own OpenAPI 3.1 document, served at `/openapi.json` and
//! browsable at `/docs`, with `openapi/idstore.json` as its committed
//! snapshot.
//!
//! Every operation is declared beside its handler (`#[utoipa::path]`, with
//! `ToSchema` on the extensions' bodies) and tagged as the vendor's
//! ([`USERS_API`], [`APPLICATIONS_API`]) or idstore's own ([`EXTENSION`]).
//! For the vendor's operations the handler declares only what idstore adds
//! (statuses the vendor leaves out, readings of `docs/SPEC_READINGS.md` as
//! `x-idstore-note`); their parameters, bodies and answers are the vendor's
//! own, taken from `openapi/vendor/*.json` when the document is built.
//! Deriving them from the wire structs instead would describe the same
//! answers in a second dialect (utoipa's `integer`/`format`/`null` where the
//! vendor says `number` and omits), so every client generated from the
//! document would differ from one generated from the vendor's, and the
//! conformance test could only ever report that noise. Taking the vendor's
//! schemas makes "idstore speaks the vendor's contract" hold by
//! construction, and leaves the conformance test to catch what the code
//! claims about an operation (its path, method, id, added statuses) that the
//! vendor's document contradicts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, LazyLock};

use actix_web::http::Method;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_ENCODING, LOCATION};
use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::{OpenApi, ToSchema};

use crate::routes::Routes;

/// Tag of the operations of the vendor's Users API.
pub const USERS_API: &str = "Users";
/// Tag of the operations of the vendor's Applications API.
pub const APPLICATIONS_API: &str = "Applications";
/// Tag of the operations of the vendor's Organizations API.
pub const ORGANIZATIONS_API: &str = "Organizations";
/// Tag of the operations of the vendor's Members API.
pub const MEMBERS_API: &str = "Members";
/// Tag of idstore's own operations, which no vendor document describes.
pub const EXTENSION: &str = "idstore extension";

/// The vendor documents by the tag of their operations: the copies kept in
/// the repository as data (`scripts/vendor-specs` writes them).
pub const VENDOR_DOCUMENTS: &[(&str, &str, &str)] = &[
    (
        USERS_API,
        "openapi/vendor/users.json",
        include_str!("../../../openapi/vendor/users.json"),
    ),
    (
        APPLICATIONS_API,
        "openapi/vendor/applications.json",
        include_str!("../../../openapi/vendor/applications.json"),
    ),
    (
        MEMBERS_API,
        "openapi/vendor/members.json",
        include_str!("../../../openapi/vendor/members.json"),
    ),
    (
        ORGANIZATIONS_API,
        "openapi/vendor/organizations.json",
        include_str!("../../../openapi/vendor/organizations.json"),
    ),
];

/// The `{message, error_code}` body of an error the vendor's documents do
/// not list (SPEC_READINGS #20, #23), and of idstore's own operations'
/// errors other than 400s.
#[derive(Serialize, ToSchema)]
pub struct ErrorMessage {
    pub message: String,
    pub error_code: u16,
}

/// The body of a 400: every problem found, as a list.
#[derive(Serialize, ToSchema)]
pub struct BadRequestMessages {
    pub message: Vec<String>,
    pub error_code: u16,
}

/// The password operations' errors: `error_code` is a string the Users
/// spec enumerates (`auth_password_weak`, `system_invalid_input`...).
#[derive(Serialize, ToSchema)]
pub struct CodedError {
    pub error_code: String,
    pub message: String,
}

/// An OAuth 2.0 error (RFC 6749 §5.2).
#[derive(Serialize, ToSchema)]
pub struct OAuthErrorBody {
    pub error: String,
    pub error_description: String,
}

/// A vendor schema by name, for idstore's own operations that answer in
/// the vendor's shapes: the builder fills in the vendor's definition.
macro_rules! vendor_schema {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        pub struct $name;
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::Ref::from_schema_name(stringify!($name)).into()
            }
        }
        impl ToSchema for $name {}
    )*};
}

vendor_schema!(
    /// The vendor's `ApiGroup` (Users API).
    ApiGroup,
    /// The vendor's `ApiRole` (Applications API).
    ApiRole,
    /// The vendor's `ApiOidcClient` (Applications API).
    ApiOidcClient,
    /// The vendor's `ApiRoleGroup` (Applications API).
    ApiRoleGroup,
);

#[derive(OpenApi)]
#[openapi(
    info(
        title = "idstore",
        description = "idstore's HTTP API: the vendor's Users and Applications operations it \
            speaks (tags `Users`, `Applications`, with the vendor's schemas), and its own \
            extensions (tag `idstore extension`, `x-idstore-extension: true`). Where the \
            vendor's documents contradict themselves or are silent, `x-idstore-note` gives \
            idstore's reading by its number in docs/SPEC_READINGS.md."
    ),
    paths(openapi_json, docs_root, docs_file),
    components(schemas(ErrorMessage, BadRequestMessages, CodedError, OAuthErrorBody)),
    tags(
        (name = "Users", description = "The vendor's Users API (openapi/vendor/users.json)"),
        (name = "Applications", description = "The vendor's Applications API (openapi/vendor/applications.json)"),
        (name = "Members", description = "The vendor's Members API (openapi/vendor/members.json)"),
        (name = "Organizations", description = "The vendor's Organizations API (openapi/vendor/organizations.json)"),
        (name = "idstore extension", description = "idstore's own operations, not in the vendor's documents"),
    )
)]
struct Root;

pub fn routes(r: &mut Routes) {
    r.at("/openapi.json").public(Method::GET, openapi_json);
    r.at("/docs").public(Method::GET, docs_root);
    r.at("/docs/{file:.*}").public(Method::GET, docs_file);
}

/// The document as utoipa generates it from the handlers, before the
/// vendor's operations are filled in.
pub fn generated() -> utoipa::openapi::OpenApi {
    let mut doc = Root::openapi();
    for part in [
        crate::health::Doc::openapi(),
        crate::prometheus::Doc::openapi(),
        crate::oidc::Doc::openapi(),
        crate::applications::Doc::openapi(),
        crate::clients::Doc::openapi(),
        crate::roles::Doc::openapi(),
        crate::users::Doc::openapi(),
        crate::passwords::Doc::openapi(),
        crate::login::Doc::openapi(),
        crate::devices::Doc::openapi(),
        crate::groups::Doc::openapi(),
        crate::organizations::Doc::openapi(),
        crate::members::Doc::openapi(),
        crate::role_groups::Doc::openapi(),
        crate::invitations::Doc::openapi(),
        crate::audit::Doc::openapi(),
    ] {
        doc.merge(part);
    }
    doc
}

/// idstore's OpenAPI document. Panics when the code's declarations and the
/// vendor's documents cannot be joined (an operation the vendor lacks, a
/// status both declare): the snapshot test builds it, so that is a failed
/// test, never a failed request.
pub fn document() -> Value {
    let mut doc = serde_json::to_value(generated()).expect("the document serializes");
    let vendors: Vec<Vendor> = VENDOR_DOCUMENTS
        .iter()
        .map(|(tag, file, text)| Vendor::parse(tag, file, text))
        .collect();
    let routes = crate::route_table();
    let paths = doc["paths"].as_object_mut().expect("paths");
    for (path, item) in paths.iter_mut() {
        for (method, operation) in item.as_object_mut().expect("a path item").iter_mut() {
            let public = routes
                .iter()
                .find(|r| {
                    r.method.as_str().eq_ignore_ascii_case(method) && document_path(r.path) == *path
                })
                .map(|r| r.policy.is_none());
            let public = public
                .unwrap_or_else(|| panic!("{method} {path} is documented but no route serves it"));
            complete(operation, path, &vendors, public);
        }
    }
    let mut schemas = std::mem::take(&mut doc["components"]["schemas"]);
    // What `vendor_schema!` leaves behind: a schema that is a reference
    // to itself, for the vendor's to replace.
    if let Some(map) = schemas.as_object_mut() {
        map.retain(|name, schema| schema["$ref"] != json!(format!("#/components/schemas/{name}")));
    }
    for name in schemas.as_object().into_iter().flatten().map(|(n, _)| n) {
        assert!(
            !vendors
                .iter()
                .any(|v| v.doc["components"]["schemas"].get(name).is_some()),
            "idstore's schema {name} has the name of a vendor's: name it differently"
        );
    }
    let wanted = referenced(&doc["paths"]);
    fill_schemas(&mut schemas, wanted, &vendors);
    doc["components"]["schemas"] = schemas;
    doc["components"]["securitySchemes"] = security_schemes(&doc, &vendors);
    doc["x-idstore-readings"] = json!("docs/SPEC_READINGS.md");
    doc
}

/// A route's path as the document writes it: actix's `{name:regex}`
/// placeholders without their regex.
pub fn document_path(route: &str) -> String {
    let mut out = String::with_capacity(route.len());
    let (mut in_braces, mut in_regex) = (false, false);
    for c in route.chars() {
        match c {
            '{' => in_braces = true,
            ':' if in_braces => in_regex = true,
            '}' => (in_braces, in_regex) = (false, false),
            _ => {}
        }
        if !in_regex {
            out.push(c);
        }
    }
    out
}

/// One of the vendor's documents, indexed by operationId.
struct Vendor {
    tag: &'static str,
    file: &'static str,
    doc: Value,
    operations: BTreeMap<String, (String, Value)>,
}

impl Vendor {
    fn parse(tag: &'static str, file: &'static str, text: &str) -> Self {
        let doc: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let mut operations = BTreeMap::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for operation in item.as_object().into_iter().flatten().map(|(_, o)| o) {
                if let Some(id) = operation["operationId"].as_str() {
                    operations.insert(id.to_owned(), (path.clone(), operation.clone()));
                }
            }
        }
        Self {
            tag,
            file,
            doc,
            operations,
        }
    }
}

/// The placeholder names of a path template, in order.
pub fn placeholders(path: &str) -> Vec<&str> {
    path.split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(name, _)| name))
        .collect()
}

/// `path` with its placeholders numbered instead of named, so that the
/// vendor's `{appId}` and idstore's `{app_id}` compare equal.
pub fn path_shape(path: &str) -> String {
    let mut shape = String::new();
    for (i, part) in path.split('{').enumerate() {
        match part.split_once('}') {
            Some((_, rest)) if i > 0 => shape.push_str(&format!("{{{i}}}{rest}")),
            _ => shape.push_str(part),
        }
    }
    shape
}

/// Fills in one operation: the vendor's parts for a vendor's operation,
/// the marks of an extension, and the statuses every route shares.
fn complete(operation: &mut Value, path: &str, vendors: &[Vendor], public: bool) {
    let id = operation["operationId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let tags: Vec<String> = serde_json::from_value(operation["tags"].clone()).unwrap_or_default();
    let [tag] = tags.as_slice() else {
        panic!("{id}: one tag of {USERS_API:?}, {APPLICATIONS_API:?}, {EXTENSION:?}, not {tags:?}");
    };
    if tag == EXTENSION {
        operation["x-idstore-extension"] = json!(true);
    } else {
        let vendor = vendors
            .iter()
            .find(|v| v.tag == tag)
            .unwrap_or_else(|| panic!("{id}: no vendor document for tag {tag:?}"));
        let (vendor_path, vendor_op) = vendor.operations.get(&id).unwrap_or_else(|| {
            panic!(
                "{id} is tagged {tag:?} but {} has no such operation",
                vendor.file
            )
        });
        assert_eq!(
            path_shape(vendor_path),
            path_shape(path),
            "{id}: idstore serves it at {path}, {} at {vendor_path}",
            vendor.file
        );
        let mut merged = vendor_op.clone();
        rename_path_parameters(&mut merged, vendor_path, path);
        for (status, response) in operation["responses"].as_object().into_iter().flatten() {
            assert!(
                merged["responses"].get(status).is_none(),
                "{id} declares a {status} the vendor already documents: leave it to {}",
                vendor.file
            );
            merged["responses"][status] = response.clone();
        }
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            let vendor_has = merged["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["name"] == parameter["name"] && p["in"] == parameter["in"]);
            assert!(
                !vendor_has,
                "{id} declares the parameter {} the vendor already documents",
                parameter["name"]
            );
            let mut parameter = parameter.clone();
            parameter["x-idstore-extension"] = json!(true);
            match merged["parameters"].as_array_mut() {
                Some(list) => list.push(parameter),
                None => merged["parameters"] = json!([parameter]),
            }
        }
        for key in ["description", "summary", "x-idstore-note"] {
            if let Some(value) = operation.get(key) {
                merged[key] = value.clone();
            }
        }
        merged["tags"] = json!([tag]);
        merged["x-idstore-vendor"] = json!(vendor.file);
        *operation = merged;
    }
    let responses = operation["responses"].as_object_mut().expect("responses");
    if public {
        operation["security"] = json!([]);
    } else {
        for (status, text) in [
            ("401", "No valid bearer token (SPEC_READINGS #20)"),
            ("403", "The token lacks the permission (SPEC_READINGS #20)"),
        ] {
            responses
                .entry(status)
                .or_insert_with(|| error_response(text, "ForbiddenHttpError"));
        }
        // SPEC_READINGS #23: every guarded operation reads the database.
        responses.entry("503").or_insert_with(unavailable);
        assert!(
            operation
                .get("security")
                .is_some_and(|s| s.as_array().is_some_and(|a| !a.is_empty())),
            "{id} needs a token but declares no security"
        );
    }
    // OpenAPI requires a description on every response; the vendor's
    // copies lost theirs with the prose.
    for (status, response) in operation["responses"].as_object_mut().into_iter().flatten() {
        if response.get("description").is_none_or(|d| d == "") {
            let reason = status
                .parse::<u16>()
                .ok()
                .and_then(|s| actix_web::http::StatusCode::from_u16(s).ok())
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Answer");
            response["description"] = json!(reason);
        }
    }
}

fn error_response(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
    })
}

fn unavailable() -> Value {
    let mut response = error_response(
        "The database is busy or unreachable (SPEC_READINGS #23)",
        "ErrorMessage",
    );
    response["headers"] = json!({"Retry-After": {
        "description": "Seconds to wait before retrying",
        "schema": {"type": "integer"}
    }});
    response
}

/// The vendor names path parameters its own way (`appId`); the document
/// uses the names of the routes idstore registers.
fn rename_path_parameters(operation: &mut Value, vendor_path: &str, path: &str) {
    let names: BTreeMap<&str, &str> = placeholders(vendor_path)
        .into_iter()
        .zip(placeholders(path))
        .collect();
    for parameter in operation["parameters"].as_array_mut().into_iter().flatten() {
        if parameter["in"] == "path"
            && let Some(name) = parameter["name"].as_str().and_then(|n| names.get(n))
        {
            parameter["name"] = json!(name);
        }
    }
}

/// The component names `node` references.
fn referenced(node: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    collect_refs(node, &mut names);
    names
}

fn collect_refs(node: &Value, names: &mut BTreeSet<String>) {
    match node {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                names.insert(name.to_owned());
            }
            map.values().for_each(|v| collect_refs(v, names));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, names)),
        _ => {}
    }
}

/// Adds the vendor schemas `wanted` names, and those they name in turn.
fn fill_schemas(schemas: &mut Value, wanted: BTreeSet<String>, vendors: &[Vendor]) {
    let mut missing = wanted;
    loop {
        missing.extend(referenced(schemas));
        missing.retain(|n| schemas.get(n).is_none());
        let Some(name) = missing.pop_first() else {
            return;
        };
        let found = vendors
            .iter()
            .find_map(|v| v.doc["components"]["schemas"].get(&name))
            .unwrap_or_else(|| panic!("no schema {name} to reference"));
        schemas[&name] = found.clone();
    }
}

/// The vendor's security schemes that some operation names.
fn security_schemes(doc: &Value, vendors: &[Vendor]) -> Value {
    let mut schemes = Map::new();
    for item in doc["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, i)| i)
    {
        for operation in item.as_object().into_iter().flatten().map(|(_, o)| o) {
            for requirement in operation["security"].as_array().into_iter().flatten() {
                for name in requirement
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(n, _)| n)
                {
                    let scheme = vendors
                        .iter()
                        .find_map(|v| v.doc["components"]["securitySchemes"].get(name))
                        .unwrap_or_else(|| panic!("no security scheme {name}"));
                    schemes.insert(name.clone(), scheme.clone());
                }
            }
        }
    }
    Value::Object(schemes)
}

/// The document as served, built once.
static DOCUMENT: LazyLock<web::Bytes> = LazyLock::new(|| {
    let mut text = serde_json::to_string_pretty(&document()).expect("the document serializes");
    text.push('\n');
    web::Bytes::from(text)
});

/// The document as the snapshot holds it: pretty JSON, one newline at the end.
pub fn document_text() -> &'static str {
    std::str::from_utf8(&DOCUMENT).expect("JSON is UTF-8")
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "getOpenApiDocument",
    tag = "idstore extension",
    responses((status = 200, description = "idstore's OpenAPI 3.1 document", content_type = "application/json"))
)]
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOCUMENT.clone())
}

/// The page's assets load relative to `/docs/`.
#[utoipa::path(
    get,
    path = "/docs",
    operation_id = "redirectToDocs",
    tag = "idstore extension",
    responses((status = 308, description = "To `/docs/`"))
)]
async fn docs_root() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((LOCATION, "/docs/"))
        .finish()
}

static SWAGGER_CONFIG: LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> =
    LazyLock::new(|| Arc::new(utoipa_swagger_ui::Config::from("/openapi.json")));

/// A browsable view of this document (Swagger UI, its assets inside the
/// binary); `/docs/` is the page.
#[utoipa::path(
    get,
    path = "/docs/{file}",
    operation_id = "getDocsFile",
    tag = "idstore extension",
    params(("file" = String, Path, description = "An asset of the page; empty for the page itself")),
    responses(
        (status = 200, description = "The page or one of its assets", content_type = "text/html"),
        (status = 404, description = "No such asset", body = ErrorMessage),
    )
)]
async fn docs_file(file: web::Path<String>) -> Result<HttpResponse, crate::ApiError> {
    let found = utoipa_swagger_ui::serve(&file, SWAGGER_CONFIG.clone())
        .map_err(|e| crate::ApiError::internal(e.to_string()))?;
    let Some(asset) = found else {
        return Err(crate::ApiError::NotFound(format!("No asset {file}")));
    };
    let mut res = HttpResponse::Ok();
    let text =
        asset.content_type.starts_with("text/") || asset.content_type == "application/javascript";
    if text {
        res.content_type(format!("{}; charset=utf-8", asset.content_type));
    } else {
        res.content_type(asset.content_type);
    }
    if asset.gzpipped {
        res.insert_header((CONTENT_ENCODING, "gzip"));
    }
    // The assets change only with the binary; the page's configuration
    // (`swagger-initializer.js`) and the page itself are cheap to refetch.
    if !matches!(file.as_str(), "" | "index.html" | "swagger-initializer.js") {
        res.insert_header((CACHE_CONTROL, "public, max-age=3600"));
    }
    Ok(res.body(asset.bytes.into_owned()))
}

#[cfg(test)]
mod tests {
    //! The snapshot and the route table against the document built from
    //! the code.

    use super::*;

    /// The committed snapshot, relative to this crate.
    const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/idstore.json");
    const REGENERATE: &str = "UPDATE_OPENAPI=1 cargo test -p idstore-api --lib openapi";

    #[test]
    fn the_snapshot_is_the_document_the_code_generates() {
        let generated = document_text();
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(SNAPSHOT, generated).expect("write the snapshot");
            return;
        }
        let committed = std::fs::read_to_string(SNAPSHOT).unwrap_or_default();
        if committed != generated {
            let line = committed
                .lines()
                .zip(generated.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(committed.lines().count().min(generated.lines().count()));
            panic!(
                "openapi/idstore.json is not the document the code generates (first difference \
                 at line {}: snapshot {:?}, generated {:?}); regenerate it with `{REGENERATE}` \
                 and commit it",
                line + 1,
                committed.lines().nth(line).unwrap_or("(end)"),
                generated.lines().nth(line).unwrap_or("(end)"),
            );
        }
    }

    #[test]
    fn every_registered_route_is_documented_and_nothing_else() {
        let doc = document();
        let mut documented: Vec<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .map(|m| (m.to_uppercase(), path.clone()))
            })
            .collect();
        let mut registered: Vec<(String, String)> = crate::route_table()
            .into_iter()
            .map(|r| (r.method.to_string(), document_path(r.path)))
            .collect();
        documented.sort();
        registered.sort();
        let missing: Vec<_> = registered
            .iter()
            .filter(|r| !documented.contains(r))
            .collect();
        let extra: Vec<_> = documented
            .iter()
            .filter(|d| !registered.contains(d))
            .collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "routes not in the document: {missing:?}; documented but not routed: {extra:?}"
        );
    }

    #[test]
    fn a_route_path_is_written_without_its_regex() {
        assert_eq!(document_path("/docs/{file:.*}"), "/docs/{file}");
        assert_eq!(
            document_path("/v1/users/{user_id}/emails/{email}"),
            "/v1/users/{user_id}/emails/{email}"
        );
        assert_eq!(
            path_shape("/v1/applications/{appId}/clients/{clientId}"),
            path_shape("/v1/applications/{app_id}/clients/{client_id}")
        );
        assert_ne!(path_shape("/v1/a/{x}/b"), path_shape("/v1/a/{x}/c"));
    }
}
