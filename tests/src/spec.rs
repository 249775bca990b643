//! OpenAPI documents as response validators: idstore's own
//! (`openapi/idstore.json`, which every answer is checked against), and the
//! vendor's (Users, Applications), which the conformance test compares it
//! with.
//!
//! idstore must answer with exactly the documented bodies, so the checks are
//! stricter than OpenAPI's defaults: an object that declares `properties`
//! admits no others, `null` is never a value (absent fields are omitted), and
//! a schema keyword the validator does not understand is itself a violation
//! rather than something silently skipped. Where the spec contradicts itself
//! the readings of `docs/SPEC_READINGS.md` apply (#4 `birthday`, #5 `maximum`
//! on strings, #24 the client secret); the statuses the vendor leaves out
//! (#13, #19, #20, #23, #26) are declared by idstore's document itself.

use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

use serde_json::Value;

use crate::TestResponse;

/// idstore's own document, as committed (the API crate's snapshot test keeps
/// it equal to the one the code generates and serves).
const IDSTORE_SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/idstore.json");
/// The vendor's Users API document as data (`scripts/vendor-specs` makes it
/// from the vendor's YAML, dropping the prose), kept in the repository so
/// that the tests need nothing beside it.
const USERS_SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/vendor/users.json");
/// The vendor's Applications API document, made the same way.
const APPLICATIONS_SPEC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../openapi/vendor/applications.json"
);

/// The vendor's Members API document, made the same way.
const MEMBERS_SPEC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../openapi/vendor/members.json"
);
/// The vendor's Organizations API document, made the same way.
const ORGANIZATIONS_SPEC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../openapi/vendor/organizations.json"
);

/// Keywords whose meaning the checker knows. The annotations among them
/// (`description`, `example`...) carry no rule.
const KNOWN_KEYWORDS: &[&str] = &[
    "$ref",
    "type",
    "properties",
    "required",
    "items",
    "enum",
    "allOf",
    "anyOf",
    "oneOf",
    "format",
    "maximum",
    "minimum",
    "minLength",
    "maxLength",
    "title",
    "description",
    "example",
    "default",
    "deprecated",
    "readOnly",
    // idstore's own schemas (utoipa's): `false` on request bodies, and
    // every object is closed here anyway.
    "additionalProperties",
];

static IDSTORE: LazyLock<Spec> = LazyLock::new(|| Spec::load(IDSTORE_SPEC));
static USERS: LazyLock<Spec> = LazyLock::new(|| Spec::load(USERS_SPEC));
static APPLICATIONS: LazyLock<Spec> = LazyLock::new(|| Spec::load(APPLICATIONS_SPEC));
static MEMBERS: LazyLock<Spec> = LazyLock::new(|| Spec::load(MEMBERS_SPEC));
static ORGANIZATIONS: LazyLock<Spec> = LazyLock::new(|| Spec::load(ORGANIZATIONS_SPEC));

/// Asserts that `res` has `status` and the body `operation_id` documents
/// for it; its JSON body (`Null` when empty).
pub fn answered_as(operation_id: &str, res: &TestResponse, status: u16) -> Value {
    assert_eq!(res.status, status, "{operation_id}: {}", res.text);
    idstore_spec().assert_http_response(operation_id, res);
    if res.text.is_empty() {
        Value::Null
    } else {
        res.json()
    }
}

/// idstore's document: the vendor's operations with the vendor's schemas
/// and idstore's added statuses, and idstore's extensions. Answers are
/// checked against this one.
pub fn idstore_spec() -> &'static Spec {
    &IDSTORE
}

/// The vendor's Users API document, for comparing idstore's with.
pub fn vendor_users_spec() -> &'static Spec {
    &USERS
}

/// The vendor's Applications API document (applications, clients, role
/// groups), for comparing idstore's with.
pub fn vendor_applications_spec() -> &'static Spec {
    &APPLICATIONS
}

/// The vendor's Members API document, for comparing idstore's with.
pub fn vendor_members_spec() -> &'static Spec {
    &MEMBERS
}

/// The vendor's Organizations API document, for comparing idstore's with.
pub fn vendor_organizations_spec() -> &'static Spec {
    &ORGANIZATIONS
}

/// An OpenAPI document, indexed by operationId.
pub struct Spec {
    pub doc: Value,
    operations: HashMap<String, Value>,
    /// Each operation's path and method, by operationId.
    locations: HashMap<String, (String, String)>,
}

impl Spec {
    /// Reads and indexes the document at `path`; panics when it is unusable,
    /// since no test could mean anything against it.
    pub fn load(path: &str) -> Self {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read the spec {path}: {e}"));
        Self::parse(&text).unwrap_or_else(|e| panic!("spec {path}: {e}"))
    }

    pub fn parse(yaml: &str) -> Result<Self, String> {
        let doc: Value = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
        let (operations, locations) = index_operations(&doc)?;
        Ok(Self {
            doc,
            operations,
            locations,
        })
    }

    /// Checks a response of `operation_id` with `status` against the spec;
    /// `body` None for no body.
    pub fn check_response(
        &self,
        operation_id: &str,
        status: u16,
        body: Option<&Value>,
    ) -> Result<(), String> {
        let operation = self.operation(operation_id);
        let mut checker = Checker::new(self);
        checker.may_omit = may_omit(operation_id);
        match operation["responses"].get(status.to_string()) {
            Some(response) => checker.declared_response(response, status, body),
            None => checker.violation(
                "",
                format!("status {status} is not documented for {operation_id}"),
            ),
        }
        checker.finish()
    }

    /// As [`Spec::check_response`], panicking with each violation's path and the body.
    pub fn assert_response(&self, operation_id: &str, status: u16, body: Option<&Value>) {
        if let Err(violations) = self.check_response(operation_id, status, body) {
            panic!(
                "{operation_id} {status} does not match the spec:\n{violations}\nbody: {}",
                shown(body)
            );
        }
    }

    /// [`Spec::assert_response`] on a response as the harness reads it: an
    /// empty text is no body.
    pub fn assert_http_response(&self, operation_id: &str, res: &TestResponse) {
        let body = (!res.text.is_empty()).then(|| res.json());
        self.assert_response(operation_id, res.status.as_u16(), body.as_ref());
    }

    /// Checks `value` against `components/schemas/<schema_name>`.
    pub fn check_schema(&self, schema_name: &str, value: &Value) -> Result<(), String> {
        let mut checker = Checker::new(self);
        checker.value(self.component(schema_name), value, "", None, true);
        checker.finish()
    }

    /// The operation itself, as the document has it.
    pub fn operation(&self, operation_id: &str) -> &Value {
        self.operations
            .get(operation_id)
            .unwrap_or_else(|| panic!("the spec has no operation {operation_id:?}"))
    }

    /// Every operationId, sorted.
    pub fn operation_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.operations.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }

    /// The path and method (lowercase) `operation_id` is at.
    pub fn location(&self, operation_id: &str) -> Option<(&str, &str)> {
        self.locations
            .get(operation_id)
            .map(|(path, method)| (path.as_str(), method.as_str()))
    }

    fn component(&self, name: &str) -> &Value {
        self.doc["components"]["schemas"]
            .get(name)
            .unwrap_or_else(|| panic!("the spec has no schema {name:?}"))
    }

    /// The schema a `$ref` names; only local component references occur in the specs.
    fn resolve(&self, reference: &str) -> Option<&Value> {
        let name = reference.strip_prefix("#/components/schemas/")?;
        self.doc["components"]["schemas"].get(name)
    }
}

type Index = (HashMap<String, Value>, HashMap<String, (String, String)>);

fn index_operations(doc: &Value) -> Result<Index, String> {
    let mut operations = HashMap::new();
    let mut locations = HashMap::new();
    let paths = doc["paths"].as_object().ok_or("no paths")?;
    for (path, item) in paths {
        let methods = item.as_object().ok_or("a path item is not an object")?;
        for (method, operation) in methods {
            let Some(id) = operation["operationId"].as_str() else {
                continue;
            };
            if operations
                .insert(id.to_owned(), operation.clone())
                .is_some()
            {
                return Err(format!("operationId {id} appears twice"));
            }
            locations.insert(id.to_owned(), (path.clone(), method.clone()));
        }
    }
    Ok((operations, locations))
}

/// Required properties an answer of `operation_id` leaves out, by
/// docs/SPEC_READINGS.md: idstore keeps only a hash of a client's secret,
/// so only the answers that made the secret can show it.
fn may_omit(operation_id: &str) -> &'static [&'static str] {
    match operation_id {
        "getAppClients" | "getAppClientById" | "updateAppClient" => &["client_secret"],
        _ => &[],
    }
}

fn shown(body: Option<&Value>) -> String {
    match body {
        Some(b) => serde_json::to_string_pretty(b).unwrap_or_default(),
        None => "(none)".into(),
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// `YYYY-MM-DD` exactly, and a real date.
fn is_plain_date(s: &str) -> bool {
    let shaped = s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    shaped && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

fn is_integer(n: &serde_json::Number) -> bool {
    n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
}

fn type_matches(expected: &str, value: &Value) -> Option<bool> {
    Some(match expected {
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.as_number().is_some_and(is_integer),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => return None,
    })
}

/// Whether `schema` admits null (OpenAPI 3.1's `type: [T, "null"]`).
fn nullable(schema: &Value) -> bool {
    schema["type"]
        .as_array()
        .is_some_and(|types| types.iter().any(|t| t == "null"))
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Walks one value against one schema, collecting violations.
struct Checker<'a> {
    spec: &'a Spec,
    violations: Vec<String>,
    /// Required properties that may be missing (see [`may_omit`]).
    may_omit: &'static [&'static str],
}

impl<'a> Checker<'a> {
    fn new(spec: &'a Spec) -> Self {
        Self {
            spec,
            violations: Vec::new(),
            may_omit: &[],
        }
    }

    /// The violations `value` has against `schema`, checked on their own.
    fn alone(&self, schema: &Value, value: &Value, path: &str, name: Option<&str>) -> Vec<String> {
        let mut checker = Checker {
            spec: self.spec,
            violations: Vec::new(),
            may_omit: self.may_omit,
        };
        checker.value(schema, value, path, name, true);
        checker.violations
    }

    /// `anyOf` holds when one alternative does, `oneOf` when exactly one
    /// does; otherwise the closest alternative's violations are reported.
    fn alternatives(&mut self, schema: &Value, value: &Value, path: &str, name: Option<&str>) {
        for (keyword, exactly_one) in [("anyOf", false), ("oneOf", true)] {
            let Some(options) = schema.get(keyword).and_then(Value::as_array) else {
                continue;
            };
            let outcomes: Vec<Vec<String>> = options
                .iter()
                .map(|option| self.alone(option, value, path, name))
                .collect();
            let passing = outcomes.iter().filter(|v| v.is_empty()).count();
            if passing == 0 {
                let closest = outcomes
                    .into_iter()
                    .min_by_key(Vec::len)
                    .unwrap_or_default();
                self.violation(path, format!("matches none of the {keyword} alternatives"));
                self.violations.extend(closest);
            } else if exactly_one && passing > 1 {
                self.violation(path, format!("matches {passing} oneOf alternatives"));
            }
        }
    }

    fn violation(&mut self, path: &str, message: impl std::fmt::Display) {
        let at = if path.is_empty() { "(body)" } else { path };
        self.violations.push(format!("  - {at}: {message}"));
    }

    fn finish(self) -> Result<(), String> {
        if self.violations.is_empty() {
            Ok(())
        } else {
            Err(self.violations.join("\n"))
        }
    }

    fn declared_response(&mut self, response: &Value, status: u16, body: Option<&Value>) {
        let Some(content) = response.get("content") else {
            return self.contentless(status, body);
        };
        match content
            .get("application/json")
            .and_then(|c| c.get("schema"))
        {
            Some(schema) => self.body(schema, body),
            None => self.violation("", "the spec declares no application/json schema"),
        }
    }

    /// A response the spec lists without a body: none for a success; for an
    /// error, idstore still answers in its error shape.
    fn contentless(&mut self, status: u16, body: Option<&Value>) {
        match body {
            None if (200..300).contains(&status) => {}
            Some(b) if (200..300).contains(&status) => {
                self.violation("", format!("a {status} has no body, got {b}"))
            }
            None => self.violation("", "an error answers with a body"),
            Some(b) => self.error_shape(b),
        }
    }

    fn error_shape(&mut self, body: &Value) {
        let message_ok = match &body["message"] {
            Value::String(_) => true,
            Value::Array(items) => items.iter().all(Value::is_string),
            _ => false,
        };
        if !body.is_object() || !message_ok || !body["error_code"].is_number() {
            self.violation(
                "",
                format!("expected an error object with message and error_code, got {body}"),
            );
        }
    }

    fn body(&mut self, schema: &Value, body: Option<&Value>) {
        match body {
            Some(value) => self.value(schema, value, "", None, true),
            None => self.violation("", "the spec documents a body; there was none"),
        }
    }

    /// `name` is the property holding `value`; `closed` says whether this
    /// schema's own property list bounds the object (an `allOf` part leaves
    /// that to the whole, whose parts together declare the properties).
    fn value(
        &mut self,
        schema: &Value,
        value: &Value,
        path: &str,
        name: Option<&str>,
        closed: bool,
    ) {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            // OpenAPI 3.0: a reference's siblings are ignored.
            match self.spec.resolve(reference) {
                Some(target) => self.value(target, value, path, name, closed),
                None => self.violation(path, format!("unresolvable $ref {reference}")),
            }
            return;
        }
        let Some(keywords) = schema.as_object() else {
            return self.violation(path, format!("schema is not an object: {schema}"));
        };
        for keyword in keywords.keys() {
            if !KNOWN_KEYWORDS.contains(&keyword.as_str()) {
                self.violation(path, format!("the checker does not know keyword {keyword}"));
            }
        }
        if value.is_null() {
            // idstore's own extensions declare where they answer null
            // (`type: [..., "null"]`); the vendor's schemas never do.
            if !nullable(schema) {
                self.violation(path, "null is never a value; omit the field instead");
            }
            return;
        }
        if !self.type_ok(schema, value, path) {
            return;
        }
        self.enumeration(schema, value, path);
        match value {
            Value::String(s) => self.string(schema, s, path, name),
            Value::Number(n) => self.number(schema, n, path),
            Value::Array(items) => self.array(schema, items, path),
            _ => {}
        }
        for part in schema["allOf"].as_array().into_iter().flatten() {
            self.value(part, value, path, name, false);
        }
        self.alternatives(schema, value, path, name);
        if let Value::Object(map) = value {
            self.object(schema, map, path, closed);
        }
    }

    /// Whether the value has the schema's type; a declared property list
    /// implies an object.
    fn type_ok(&mut self, schema: &Value, value: &Value, path: &str) -> bool {
        let expected = match schema.get("type") {
            Some(Value::Array(types)) => {
                let matching = types
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|t| type_matches(t, value) == Some(true));
                if !matching {
                    self.violation(
                        path,
                        format!("expected one of {types:?}, got {}", kind_of(value)),
                    );
                }
                return matching;
            }
            Some(t) => t.as_str().unwrap_or_default(),
            None if schema.get("properties").is_some() || schema.get("required").is_some() => {
                "object"
            }
            None => return true,
        };
        match type_matches(expected, value) {
            Some(true) => true,
            Some(false) => {
                self.violation(path, format!("expected {expected}, got {}", kind_of(value)));
                false
            }
            None => {
                self.violation(path, format!("the checker does not know type {expected}"));
                false
            }
        }
    }

    fn enumeration(&mut self, schema: &Value, value: &Value, path: &str) {
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            self.violation(path, format!("{value} is not one of {allowed:?}"));
        }
    }

    fn string(&mut self, schema: &Value, s: &str, path: &str, name: Option<&str>) {
        let len = s.chars().count() as f64;
        // CONTRADICTIONS #5: `maximum` on a string bounds its length.
        for (keyword, is_upper) in [("maximum", true), ("maxLength", true), ("minLength", false)] {
            if let Some(n) = schema.get(keyword).and_then(Value::as_f64)
                && (if is_upper { len > n } else { len < n })
            {
                self.violation(path, format!("{len} characters breaks {keyword} {n}"));
            }
        }
        if let Some(format) = schema.get("format").and_then(Value::as_str) {
            self.format(format, s, path, name);
        }
    }

    fn format(&mut self, format: &str, s: &str, path: &str, name: Option<&str>) {
        match format {
            // CONTRADICTIONS #4: documented as YYYY-MM-DD despite the format.
            "date-time" if name == Some("birthday") => {
                if !is_plain_date(s) {
                    self.violation(path, format!("{s:?} is not a YYYY-MM-DD date"));
                }
            }
            "date-time" => {
                if chrono::DateTime::parse_from_rfc3339(s).is_err() {
                    self.violation(path, format!("{s:?} is not an RFC 3339 date-time"));
                }
            }
            other => self.violation(path, format!("the checker does not know format {other}")),
        }
    }

    fn number(&mut self, schema: &Value, n: &serde_json::Number, path: &str) {
        if let (Some(max), Some(v)) = (schema.get("maximum").and_then(Value::as_f64), n.as_f64())
            && v > max
        {
            self.violation(path, format!("{v} exceeds maximum {max}"));
        }
        if let (Some(min), Some(v)) = (schema.get("minimum").and_then(Value::as_f64), n.as_f64())
            && v < min
        {
            self.violation(path, format!("{v} is below minimum {min}"));
        }
    }

    fn array(&mut self, schema: &Value, items: &[Value], path: &str) {
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                self.value(item_schema, item, &format!("{path}[{i}]"), None, true);
            }
        }
    }

    fn object(
        &mut self,
        schema: &Value,
        map: &serde_json::Map<String, Value>,
        path: &str,
        closed: bool,
    ) {
        for key in schema["required"].as_array().into_iter().flatten() {
            if let Some(key) = key.as_str()
                && !map.contains_key(key)
                && !self.may_omit.contains(&key)
            {
                self.violation(&child(path, key), "required but missing");
            }
        }
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (key, value) in map {
                if let Some(property) = properties.get(key) {
                    self.value(property, value, &child(path, key), Some(key), true);
                }
            }
        }
        if closed && let Some(declared) = self.declared_properties(schema) {
            for key in map.keys().filter(|k| !declared.contains(k.as_str())) {
                self.violation(&child(path, key), "property not declared by the spec");
            }
        }
    }

    /// The properties `schema` and its `allOf` parts declare together;
    /// `None` for a free-form object (such as `custom_data`).
    fn declared_properties(&self, schema: &'a Value) -> Option<BTreeSet<&'a str>> {
        let schema = self.dereferenced(schema);
        let own = schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().map(String::as_str).collect::<BTreeSet<_>>());
        let parts = schema["allOf"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|part| self.declared_properties(part));
        parts.fold(own, |acc, part| {
            let mut all = acc.unwrap_or_default();
            all.extend(part);
            Some(all)
        })
    }

    fn dereferenced(&self, mut schema: &'a Value) -> &'a Value {
        while let Some(target) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| self.spec.resolve(r))
        {
            schema = target;
        }
        schema
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "user_id": "u1",
            "status": "Active",
            "created_at": 1_700_000_000_000_i64,
            "updated_at": 1_700_000_000_123_i64,
            "email": {"value": "a@example.com", "email_verified": true,
                      "verified_at": "2024-05-01T10:00:00.000Z"},
            "secondary_emails": [{"value": "b@example.com", "email_verified": false}],
            "phone_number": {"value": "+12125550100", "phone_number_verified": false},
            "birthday": "1990-02-28",
            "name": {"first_name": "Ada", "last_name": "Lovelace"},
            "address": {"city": "London", "type": "Home", "updated_at": 1_700_000_000_000_i64},
            "identities": [{
                "provider_name": "Password", "provider_type": "Native", "auth_type": "password",
                "identifier": "u1", "first_auth_date": "2024-05-01T10:00:00Z",
                "last_auth_date": "2024-05-02T10:00:00+02:00",
                "user_alias": {"type": "email", "value": "a@example.com"}
            }],
            "custom_data": {"anything": {"goes": [1, null]}},
            "groupIds": ["g1"],
            "password_information": {"expired": false, "temporary": true,
                                     "updated_at": 1_700_000_000_000_i64}
        })
    }

    fn check_user(user: Value) -> Result<(), String> {
        idstore_spec().check_response("getUserById", 200, Some(&json!({ "result": user })))
    }

    fn assert_refused(result: Result<(), String>, mentions: &str) {
        let violations = result.expect_err("accepted");
        assert!(
            violations.contains(mentions),
            "expected a violation at {mentions}, got:\n{violations}"
        );
    }

    #[test]
    fn a_complete_api_user_passes() {
        check_user(user()).unwrap();
        idstore_spec().check_schema("ApiUser", &user()).unwrap();
    }

    #[test]
    fn a_page_of_users_passes_as_api_get_all_users() {
        let page = json!({
            "total_count": 2,
            "page_info": {"has_next_page": false, "has_previous_page": false},
            "result": [user(), {"user_id": "u2", "status": "Pending",
                                "created_at": 1, "updated_at": 2}]
        });
        idstore_spec()
            .check_response("getUsers", 200, Some(&page))
            .unwrap();
    }

    #[test]
    fn a_missing_required_property_is_refused() {
        let mut u = user();
        u.as_object_mut().unwrap().remove("status");
        assert_refused(check_user(u), "result.status: required but missing");
        assert_refused(
            idstore_spec().check_response("getUsers", 200, Some(&json!({"result": []}))),
            "total_count: required but missing",
        );
    }

    #[test]
    fn a_wrong_type_is_refused() {
        let mut u = user();
        u["created_at"] = json!("1700000000000");
        assert_refused(
            check_user(u),
            "result.created_at: expected number, got string",
        );
        let mut u = user();
        u["secondary_emails"][0]["email_verified"] = json!("yes");
        assert_refused(
            check_user(u),
            "result.secondary_emails[0].email_verified: expected boolean",
        );
    }

    #[test]
    fn an_undeclared_property_deep_inside_is_refused() {
        let mut u = user();
        u["name"]["nickname"] = json!("Ada");
        assert_refused(check_user(u), "result.name.nickname: property not declared");
        let mut u = user();
        u["identities"][0]["user_alias"]["extra"] = json!(1);
        assert_refused(check_user(u), "result.identities[0].user_alias.extra");
        let mut u = user();
        u["password"] = json!("hunter2");
        assert_refused(check_user(u), "result.password: property not declared");
    }

    #[test]
    fn the_parts_of_an_all_of_together_declare_the_properties() {
        // `email` is `allOf: [ApiUserEmail]` with a description beside it.
        let mut u = user();
        u["email"] = json!({"value": "a@example.com", "verified_at": "2024-01-01T00:00:00Z"});
        check_user(u).unwrap();
        let mut u = user();
        u["email"] = json!({"email_verified": true});
        assert_refused(check_user(u), "result.email.value: required but missing");
    }

    #[test]
    fn a_value_outside_the_enum_is_refused() {
        let mut u = user();
        u["status"] = json!("Deleted");
        assert_refused(check_user(u), "result.status: \"Deleted\" is not one of");
        let mut u = user();
        u["address"]["type"] = json!("home");
        assert_refused(check_user(u), "result.address.type");
    }

    #[test]
    fn a_date_time_that_is_not_rfc_3339_is_refused() {
        let mut u = user();
        u["email"]["verified_at"] = json!("2024-05-01 10:00");
        assert_refused(check_user(u), "result.email.verified_at");
        let mut u = user();
        u["last_auth"] = json!(1_700_000_000_000_i64);
        assert_refused(check_user(u), "result.last_auth: expected string");
    }

    #[test]
    fn a_birthday_must_be_a_plain_date() {
        for bad in [
            "1990-02-28T00:00:00Z",
            "1990-2-28",
            "1990-02-30",
            "28/02/1990",
        ] {
            let mut u = user();
            u["birthday"] = json!(bad);
            assert_refused(check_user(u), "result.birthday");
        }
    }

    #[test]
    fn a_first_name_of_31_characters_breaks_the_maximum() {
        let mut u = user();
        u["name"]["first_name"] = json!("é".repeat(30));
        check_user(u).unwrap();
        let mut u = user();
        u["name"]["first_name"] = json!("a".repeat(31));
        assert_refused(check_user(u), "result.name.first_name: 31 characters");
    }

    #[test]
    fn min_and_max_length_bound_strings() {
        let config = |token: &str| {
            json!({"status": "Active", "created_at": "2024-01-01T00:00:00Z",
                   "updated_at": "2024-01-01T00:00:00Z",
                   "push_config": {"device_token": token, "type": "FCM"}})
        };
        // idstore serves no device keys: the vendor's schema has the keywords.
        let spec = vendor_users_spec();
        spec.check_schema("DeviceKeyResponseDto", &config(&"t".repeat(32)))
            .unwrap();
        assert_refused(
            spec.check_schema("DeviceKeyResponseDto", &config("short")),
            "push_config.device_token: 5 characters breaks minLength",
        );
        assert_refused(
            spec.check_schema("DeviceKeyResponseDto", &config(&"t".repeat(256))),
            "breaks maxLength",
        );
    }

    #[test]
    fn null_is_never_a_value() {
        let mut u = user();
        u["picture"] = Value::Null;
        assert_refused(check_user(u), "result.picture: null is never a value");
        let mut u = user();
        u["name"]["title"] = Value::Null;
        assert_refused(check_user(u), "result.name.title: null");
    }

    #[test]
    fn a_204_carries_no_body() {
        let spec = idstore_spec();
        spec.check_response("deleteTenantUser", 204, None).unwrap();
        assert_refused(
            spec.check_response("deleteTenantUser", 204, Some(&json!({}))),
            "a 204 has no body",
        );
        spec.check_response("verifyUserEmail", 202, None).unwrap();
        assert_refused(
            spec.check_response("getUserById", 200, None),
            "there was none",
        );
    }

    #[test]
    fn an_error_without_a_documented_body_still_answers_in_the_error_shape() {
        let spec = idstore_spec();
        let op = "removeUserSecondaryEmail";
        spec.check_response(
            op,
            404,
            Some(&json!({"message": "User not found", "error_code": 404})),
        )
        .unwrap();
        spec.check_response(
            op,
            400,
            Some(&json!({"message": ["bad"], "error_code": 400})),
        )
        .unwrap();
        assert_refused(
            spec.check_response(op, 404, Some(&json!({"error": "nope"}))),
            "expected an error object",
        );
        assert_refused(spec.check_response(op, 404, None), "with a body");
    }

    #[test]
    fn documented_error_bodies_are_checked_strictly() {
        let spec = idstore_spec();
        spec.check_response(
            "getUserById",
            404,
            Some(&json!({"message": "User not found", "error_code": 404})),
        )
        .unwrap();
        assert_refused(
            spec.check_response(
                "getUserById",
                400,
                Some(&json!({"message": "x", "error_code": 400})),
            ),
            "message: expected array",
        );
        assert_refused(
            spec.check_response(
                "getUserById",
                404,
                Some(&json!({"message": "x", "error_code": 404, "ts_error_code": "X"})),
            ),
            "ts_error_code: property not declared",
        );
    }

    #[test]
    fn undeclared_statuses_pass_only_where_the_contradictions_allow_them() {
        let spec = idstore_spec();
        let forbidden = json!({"message": "no", "error_code": 403});
        spec.check_response("getUserById", 403, Some(&forbidden))
            .unwrap();
        spec.check_response(
            "getUserById",
            401,
            Some(&json!({"message": "no", "error_code": 401})),
        )
        .unwrap();
        let taken =
            json!({"message": "taken", "error_code": 409, "ts_error_code": "IdentifierIsTaken"});
        for op in ["updateUser", "verifyUserEmail", "verifyUserPhoneNumber"] {
            spec.check_response(op, 409, Some(&taken)).unwrap();
        }
        let bad = json!({"message": ["bad"], "error_code": 400});
        spec.check_response("verifyUserPhoneNumber", 400, Some(&bad))
            .unwrap();
        assert_refused(
            spec.check_response("getUserById", 409, Some(&taken)),
            "status 409 is not documented for getUserById",
        );
        assert_refused(
            spec.check_response(
                "getUserById",
                500,
                Some(&json!({"message": "x", "error_code": 500})),
            ),
            "status 500 is not documented",
        );
        assert_refused(
            spec.check_response(
                "getUserById",
                403,
                Some(&json!({"message": ["no"], "error_code": 403})),
            ),
            "message: expected string",
        );
    }

    #[test]
    fn get_user_groups_answers_a_list_of_api_groups() {
        let spec = idstore_spec();
        let group = json!({"group_id": "g", "name": "n", "created_at": 1, "updated_at": 2,
                           "custom_data": {}});
        spec.check_response("getUserGroups", 200, Some(&json!({"result": [group]})))
            .unwrap();
        assert_refused(
            spec.check_response(
                "getUserGroups",
                200,
                Some(
                    &json!({"result": [{"group_id": "g", "name": "n", "description": null,
                                          "created_at": 1, "updated_at": 2}]}),
                ),
            ),
            "result[0].description: null",
        );
    }

    #[test]
    fn every_schema_keyword_in_the_specs_is_understood() {
        for spec in [
            idstore_spec(),
            vendor_users_spec(),
            vendor_applications_spec(),
        ] {
            let schemas = spec.doc["components"]["schemas"].as_object().unwrap();
            for (name, schema) in schemas {
                let mut checker = Checker::new(spec);
                unknown_keywords(schema, name, &mut checker);
                checker.finish().unwrap_or_else(|v| panic!("{v}"));
            }
        }
    }

    const ALTERNATIVES: &str = r##"
paths:
  /x:
    get:
      operationId: getX
      responses:
        "200":
          content:
            application/json:
              schema:
                anyOf:
                  - $ref: "#/components/schemas/A"
                  - $ref: "#/components/schemas/B"
    put:
      operationId: putX
      responses:
        "200":
          content:
            application/json:
              schema:
                oneOf:
                  - {type: object, properties: {n: {type: number}}}
                  - {type: object, properties: {n: {type: number}, s: {type: string}}}
components:
  schemas:
    A: {type: object, required: [a], properties: {a: {type: string}}}
    B: {type: object, required: [b], properties: {b: {type: number}}}
"##;

    #[test]
    fn any_of_holds_when_one_alternative_does_and_reports_the_closest() {
        let spec = Spec::parse(ALTERNATIVES).unwrap();
        spec.check_response("getX", 200, Some(&json!({"a": "s"})))
            .unwrap();
        spec.check_response("getX", 200, Some(&json!({"b": 1})))
            .unwrap();
        let refused = spec
            .check_response("getX", 200, Some(&json!({"b": "one"})))
            .unwrap_err();
        assert!(refused.contains("none of the anyOf"), "{refused}");
        assert!(
            refused.contains("b: expected number, got string"),
            "{refused}"
        );
        // Each alternative is closed on its own: a mix of both is neither.
        assert_refused(
            spec.check_response("getX", 200, Some(&json!({"a": "s", "b": 1}))),
            "none of the anyOf",
        );
    }

    #[test]
    fn one_of_holds_only_when_exactly_one_alternative_does() {
        let spec = Spec::parse(ALTERNATIVES).unwrap();
        spec.check_response("putX", 200, Some(&json!({"s": "x"})))
            .unwrap();
        assert_refused(
            spec.check_response("putX", 200, Some(&json!({"n": 1}))),
            "matches 2 oneOf alternatives",
        );
    }

    #[test]
    fn a_client_read_may_leave_out_only_the_secret() {
        let spec = idstore_spec();
        let client = json!({
            "app_id": "a", "tenant_id": "t", "client_id": "c", "name": "n",
            "description": "", "resources": [], "created_at": "2026-01-01T00:00:00.000Z",
            "updated_at": "2026-01-01T00:00:00.000Z", "authentication_protocol": "oidc",
            "client_group_id": "", "default_custom_claims": [], "redirect_uris": [],
            "device_authorization": {"enabled": false, "approval_uri": "", "success_uri": "",
                                     "input_uri": ""},
            "ciba_authorization": {"enabled": false}, "supported_prompts": [],
            "token_expiration": {"access_token_ttl": 5}, "session_expiration": 0,
            "enforce_par": false, "fapi_version_compliancy": false
        });
        spec.check_response("getAppClientById", 200, Some(&client))
            .unwrap();
        assert_refused(
            spec.check_response("createAppClient", 201, Some(&client)),
            "client_secret: required but missing",
        );
        let mut nameless = client.clone();
        nameless.as_object_mut().unwrap().remove("name");
        assert_refused(
            spec.check_response("getAppClientById", 200, Some(&nameless)),
            "name: required but missing",
        );
    }

    fn unknown_keywords(schema: &Value, path: &str, checker: &mut Checker) {
        let Some(map) = schema.as_object() else {
            return;
        };
        for key in map.keys() {
            if !KNOWN_KEYWORDS.contains(&key.as_str()) {
                checker.violation(path, format!("unknown keyword {key}"));
            }
        }
        for (key, property) in map
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            unknown_keywords(property, &child(path, key), checker);
        }
        for part in ["allOf", "anyOf", "oneOf"]
            .into_iter()
            .filter_map(|k| map.get(k).and_then(Value::as_array))
            .flatten()
        {
            unknown_keywords(part, path, checker);
        }
        if let Some(items) = map.get("items") {
            unknown_keywords(items, &format!("{path}[]"), checker);
        }
    }

    #[test]
    #[should_panic(expected = "the spec has no operation \"getUserByID\"")]
    fn an_unknown_operation_id_panics() {
        let _ = idstore_spec().check_response("getUserByID", 200, None);
    }

    #[test]
    #[should_panic(expected = "the spec has no schema")]
    fn an_unknown_schema_name_panics() {
        let _ = idstore_spec().check_schema("ApiUsr", &json!({}));
    }

    #[test]
    #[should_panic(expected = "getUserById 200 does not match the spec")]
    fn assert_response_panics_with_the_violations() {
        idstore_spec().assert_response("getUserById", 200, Some(&json!({"result": {}})));
    }
}
