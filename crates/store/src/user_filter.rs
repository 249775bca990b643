//! Compiles a SCIM filter over users into a parameterized SQL predicate.
//!
//! The predicate runs in the user list's query, where `u` is the `users` row
//! and `ua` the viewer application's `user_apps` row (LEFT JOIN: all NULL
//! when the user has none). Filter literals only ever reach SQL as bind
//! parameters; the SQL text holds nothing but fixed column names.
//!
//! Every attribute/operator pair accepted here is served by an index of
//! `migrations/V3__user_search.sql` (or V1); anything else is refused with a
//! hint, so no search scans a whole tenant. `ne`, `eq null` and `not` are
//! the exception: no index can serve a negation.
//!
//! SQL's NULL would make `not` drop rows (`NOT (NULL = 'x')` is NULL), so
//! negations are emitted as `IS NOT TRUE`, which gives the two-valued logic
//! SCIM means: an absent attribute simply does not match.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use idstore_domain::filter::{AttrPath, CompareOp, Filter, Literal};
use sqlx::types::JsonValue as Value;
use sqlx::{Postgres, QueryBuilder};

/// Why a filter cannot run; the text is meant for the API caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(pub String);

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FilterError {}

/// Validates `filter` against the searchable attributes without building SQL.
pub fn check(filter: &Filter) -> Result<(), FilterError> {
    compile(filter).map(drop)
}

/// Appends `filter` to `qb` as one parenthesized boolean expression. On
/// error nothing has been appended.
pub fn push_filter(qb: &mut QueryBuilder<Postgres>, filter: &Filter) -> Result<(), FilterError> {
    let mut leaves = compile(filter)?.into_iter();
    emit(qb, filter, &mut leaves);
    Ok(())
}

/// `s` as a LIKE pattern matching the values that start with it.
pub fn like_prefix(s: &str) -> String {
    let mut pattern = escape_like(s);
    pattern.push('%');
    pattern
}

fn like_suffix(s: &str) -> String {
    let mut pattern = String::from("%");
    pattern.push_str(&escape_like(s));
    pattern
}

fn like_infix(s: &str) -> String {
    let mut pattern = like_suffix(s);
    pattern.push('%');
    pattern
}

/// Backslash is LIKE's default escape character.
fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------
// Emitting

/// One comparison's SQL: fixed fragments and bound values, in order.
struct Leaf(Vec<Part>);

enum Part {
    Sql(&'static str),
    Text(String),
    Texts(Vec<String>),
    Time(DateTime<Utc>),
    Date(NaiveDate),
    Json(Value),
}

impl Leaf {
    fn push_to(self, qb: &mut QueryBuilder<Postgres>) {
        for part in self.0 {
            match part {
                Part::Sql(sql) => qb.push(sql),
                Part::Text(v) => qb.push_bind(v),
                Part::Texts(v) => qb.push_bind(v),
                Part::Time(v) => qb.push_bind(v),
                Part::Date(v) => qb.push_bind(v),
                Part::Json(v) => qb.push_bind(v),
            };
        }
    }
}

/// Walks the tree in the same order as [`compile`], which made one leaf per
/// comparison.
fn emit(qb: &mut QueryBuilder<Postgres>, filter: &Filter, leaves: &mut impl Iterator<Item = Leaf>) {
    match filter {
        Filter::And(l, r) | Filter::Or(l, r) => {
            let joiner = if matches!(filter, Filter::And(..)) {
                " AND "
            } else {
                " OR "
            };
            qb.push("(");
            emit(qb, l, leaves);
            qb.push(joiner);
            emit(qb, r, leaves);
            qb.push(")");
        }
        Filter::Not(inner) => {
            qb.push("(");
            emit(qb, inner, leaves);
            qb.push(" IS NOT TRUE)");
        }
        Filter::Compare { .. } | Filter::Present(_) => {
            if let Some(leaf) = leaves.next() {
                leaf.push_to(qb);
            }
        }
    }
}

fn compile(filter: &Filter) -> Result<Vec<Leaf>, FilterError> {
    let mut leaves = Vec::new();
    collect(filter, &mut leaves)?;
    Ok(leaves)
}

fn collect(filter: &Filter, leaves: &mut Vec<Leaf>) -> Result<(), FilterError> {
    match filter {
        Filter::And(l, r) | Filter::Or(l, r) => {
            collect(l, leaves)?;
            collect(r, leaves)
        }
        Filter::Not(inner) => collect(inner, leaves),
        Filter::Compare { path, op, value } => {
            let attr = Attr::resolve(path)?;
            leaves.push(attr.compile(Test::new(&attr, *op, value)?)?);
            Ok(())
        }
        Filter::Present(path) => {
            let attr = Attr::resolve(path)?;
            leaves.push(attr.compile(Test::Present)?);
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------
// Attributes

const SEARCHABLE: &str = "email, phone_number, username, external_user_id, user_id, status, \
     created_at, updated_at, last_auth, status_changed_at, birthday, secondary_emails, \
     secondary_phone_numbers, name.<first_name|last_name|middle_name|title>, \
     address.<country|state|city|postal_code|street_address>, custom_data.<key>, \
     custom_app_data.<key>, external_account_id";

/// A single-valued text column.
struct TextAttr {
    name: &'static str,
    column: &'static str,
    /// Stored lower-cased, so the literal is lower-cased too.
    lower: bool,
    /// `co` and `ew` (trigram index).
    infix: bool,
    /// `gt`, `ge`, `lt`, `le` (btree in the database collation).
    ordered: bool,
}

const EMAIL: TextAttr = TextAttr {
    name: "email",
    column: "u.email_normalized",
    lower: true,
    infix: true,
    ordered: true,
};
const PHONE: TextAttr = TextAttr {
    name: "phone_number",
    column: "u.phone_number",
    lower: false,
    infix: true,
    ordered: true,
};
const USERNAME: TextAttr = TextAttr {
    name: "username",
    column: "u.username_normalized",
    lower: true,
    infix: true,
    ordered: true,
};
const EXTERNAL_USER_ID: TextAttr = TextAttr {
    name: "external_user_id",
    column: "u.external_user_id",
    lower: false,
    infix: true,
    ordered: true,
};
const USER_ID: TextAttr = TextAttr {
    name: "user_id",
    column: "u.user_id",
    lower: false,
    infix: false,
    ordered: true,
};
const EXTERNAL_ACCOUNT_ID: TextAttr = TextAttr {
    name: "external_account_id",
    column: "ua.external_account_id",
    lower: false,
    infix: false,
    ordered: false,
};

struct TimeAttr {
    name: &'static str,
    column: &'static str,
    /// Sent on the wire as epoch milliseconds, so numbers are accepted too.
    epoch_ms: bool,
}

/// A field of the `name` JSON object. `lowered` must match the expression
/// indexed in V3 character for character, or the index goes unused.
struct NameField {
    name: &'static str,
    key: &'static str,
    lowered: Option<&'static str>,
}

const NAME_FIELDS: [NameField; 4] = [
    NameField {
        name: "name.first_name",
        key: "first_name",
        lowered: Some("lower(u.name ->> 'first_name')"),
    },
    NameField {
        name: "name.last_name",
        key: "last_name",
        lowered: Some("lower(u.name ->> 'last_name')"),
    },
    NameField {
        name: "name.middle_name",
        key: "middle_name",
        lowered: None,
    },
    NameField {
        name: "name.title",
        key: "title",
        lowered: None,
    },
];

const ADDRESS_FIELDS: [&str; 5] = ["country", "state", "city", "postal_code", "street_address"];

/// A JSON object column searched by key path.
struct DocAttr<'f> {
    name: &'static str,
    column: &'static str,
    keys: &'f [String],
}

enum Attr<'f> {
    Text(&'static TextAttr),
    Status,
    Time(TimeAttr),
    Birthday,
    Contacts {
        name: &'static str,
        column: &'static str,
        lower: bool,
    },
    Name(&'static NameField),
    Address(&'static str),
    Doc(DocAttr<'f>),
}

/// What a comparison asks, with `eq null`/`ne null` folded into presence.
enum Test<'f> {
    Present,
    Absent,
    Compare(CompareOp, &'f Literal),
}

impl<'f> Test<'f> {
    fn new(attr: &Attr<'_>, op: CompareOp, value: &'f Literal) -> Result<Self, FilterError> {
        match (op, value) {
            (CompareOp::Eq, Literal::Null) => Ok(Test::Absent),
            (CompareOp::Ne, Literal::Null) => Ok(Test::Present),
            (_, Literal::Null) => Err(FilterError(format!(
                "`{op}` on `{}` needs a value; null works only with eq and ne",
                attr.name()
            ))),
            _ => Ok(Test::Compare(op, value)),
        }
    }
}

impl<'f> Attr<'f> {
    fn resolve(path: &'f AttrPath) -> Result<Self, FilterError> {
        let root = path.root().to_ascii_lowercase();
        let attr = match root.as_str() {
            "custom_data" => return Self::document("custom_data", "u.custom_data", path),
            "custom_app_data" => {
                return Self::document("custom_app_data", "ua.custom_app_data", path);
            }
            "name" => return Self::name_field(path),
            "address" => return Self::address_field(path),
            _ if !path.rest().is_empty() => return Err(unknown(path)),
            "email" => Attr::Text(&EMAIL),
            "phone_number" => Attr::Text(&PHONE),
            "username" => Attr::Text(&USERNAME),
            "external_user_id" => Attr::Text(&EXTERNAL_USER_ID),
            "user_id" => Attr::Text(&USER_ID),
            "external_account_id" => Attr::Text(&EXTERNAL_ACCOUNT_ID),
            "status" => Attr::Status,
            "created_at" => time("created_at", "u.created_at", true),
            "updated_at" => time("updated_at", "u.updated_at", true),
            "last_auth" => time("last_auth", "u.last_auth", false),
            "status_changed_at" => time("status_changed_at", "u.status_changed_at", false),
            "birthday" => Attr::Birthday,
            "secondary_emails" => Attr::Contacts {
                name: "secondary_emails",
                column: "u.secondary_emails",
                lower: true,
            },
            "secondary_phone_numbers" => Attr::Contacts {
                name: "secondary_phone_numbers",
                column: "u.secondary_phone_numbers",
                lower: false,
            },
            _ => return Err(unknown(path)),
        };
        Ok(attr)
    }

    fn document(
        name: &'static str,
        column: &'static str,
        path: &'f AttrPath,
    ) -> Result<Self, FilterError> {
        if path.rest().is_empty() {
            return Err(FilterError(format!(
                "`{name}` needs a key to search on, like `{name}.plan eq \"gold\"`"
            )));
        }
        Ok(Attr::Doc(DocAttr {
            name,
            column,
            keys: path.rest(),
        }))
    }

    fn name_field(path: &AttrPath) -> Result<Self, FilterError> {
        let [field] = path.rest() else {
            return Err(unknown(path));
        };
        NAME_FIELDS
            .iter()
            .find(|f| f.key.eq_ignore_ascii_case(field))
            .map(Attr::Name)
            .ok_or_else(|| unknown(path))
    }

    fn address_field(path: &AttrPath) -> Result<Self, FilterError> {
        let [field] = path.rest() else {
            return Err(unknown(path));
        };
        ADDRESS_FIELDS
            .iter()
            .find(|f| f.eq_ignore_ascii_case(field))
            .map(|f| Attr::Address(f))
            .ok_or_else(|| unknown(path))
    }

    fn name(&self) -> String {
        match self {
            Attr::Text(t) => t.name.into(),
            Attr::Status => "status".into(),
            Attr::Time(t) => t.name.into(),
            Attr::Birthday => "birthday".into(),
            Attr::Contacts { name, .. } => (*name).into(),
            Attr::Name(f) => f.name.into(),
            Attr::Address(field) => format!("address.{field}"),
            Attr::Doc(d) => d.full_name(),
        }
    }

    fn compile(&self, test: Test<'_>) -> Result<Leaf, FilterError> {
        match self {
            Attr::Text(t) => text(t, test),
            Attr::Status => status(test),
            Attr::Time(t) => timestamp(t, test),
            Attr::Birthday => birthday(test),
            Attr::Contacts {
                name,
                column,
                lower,
            } => contacts(name, column, *lower, test),
            Attr::Name(f) => name_field(f, test),
            Attr::Address(field) => address_field(field, test),
            Attr::Doc(d) => document(d, test),
        }
    }
}

impl DocAttr<'_> {
    fn full_name(&self) -> String {
        format!("{}.{}", self.name, self.keys.join("."))
    }
}

fn time(name: &'static str, column: &'static str, epoch_ms: bool) -> Attr<'static> {
    Attr::Time(TimeAttr {
        name,
        column,
        epoch_ms,
    })
}

fn unknown(path: &AttrPath) -> FilterError {
    FilterError(format!(
        "unknown attribute `{path}`; searchable attributes are {SEARCHABLE}"
    ))
}

fn unsupported(op: CompareOp, attr: &str, hint: &str) -> FilterError {
    FilterError(format!("`{op}` is not supported on `{attr}`; {hint}"))
}

fn wrong_type(attr: &str, expected: &str, got: &Literal) -> FilterError {
    FilterError(format!(
        "`{attr}` compares with {expected}, not {}",
        got.kind()
    ))
}

// ---------------------------------------------------------------------------
// SQL for each kind of attribute

fn null_check(column: &'static str, present: bool) -> Leaf {
    let test = if present {
        " IS NOT NULL)"
    } else {
        " IS NULL)"
    };
    Leaf(vec![Part::Sql("("), Part::Sql(column), Part::Sql(test)])
}

/// `(column <op> value)`.
fn comparison(column: &'static str, op: CompareOp, value: Part) -> Leaf {
    Leaf(vec![
        Part::Sql("("),
        Part::Sql(column),
        Part::Sql(operator_sql(op)),
        value,
        Part::Sql(")"),
    ])
}

/// `ne` is IS DISTINCT FROM so that an absent value counts as different.
fn operator_sql(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => " = ",
        CompareOp::Ne => " IS DISTINCT FROM ",
        CompareOp::Gt => " > ",
        CompareOp::Ge => " >= ",
        CompareOp::Lt => " < ",
        CompareOp::Le => " <= ",
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => " LIKE ",
    }
}

fn is_ordering(op: CompareOp) -> bool {
    matches!(
        op,
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
    )
}

fn is_pattern(op: CompareOp) -> bool {
    matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
}

fn string_literal<'l>(attr: &str, value: &'l Literal) -> Result<&'l str, FilterError> {
    match value {
        Literal::String(s) => Ok(s),
        other => Err(wrong_type(attr, "a string", other)),
    }
}

/// LIKE pattern for `sw`, `co`, `ew`. Trigrams need three characters to
/// narrow anything down, so shorter `co`/`ew` values are refused.
fn like_pattern(attr: &str, op: CompareOp, s: &str) -> Result<String, FilterError> {
    let chars = s.chars().count();
    match op {
        CompareOp::Sw if chars == 0 => Err(FilterError(format!(
            "`sw` on `{attr}` needs at least one character"
        ))),
        CompareOp::Sw => Ok(like_prefix(s)),
        _ if chars < 3 => Err(FilterError(format!(
            "`{op}` on `{attr}` needs at least 3 characters; for shorter values use eq or sw"
        ))),
        CompareOp::Co => Ok(like_infix(s)),
        _ => Ok(like_suffix(s)),
    }
}

fn text(t: &TextAttr, test: Test<'_>) -> Result<Leaf, FilterError> {
    let (op, value) = match test {
        Test::Present => return Ok(null_check(t.column, true)),
        Test::Absent => return Ok(null_check(t.column, false)),
        Test::Compare(op, value) => (op, value),
    };
    let refused = (matches!(op, CompareOp::Co | CompareOp::Ew) && !t.infix)
        || (is_ordering(op) && !t.ordered);
    if refused {
        let allowed = match (t.infix, t.ordered) {
            (true, _) => "eq, ne, co, sw, ew, gt, ge, lt, le or pr",
            (false, true) => "eq, ne, sw, gt, ge, lt, le or pr",
            (false, false) => "eq, ne, sw or pr",
        };
        return Err(unsupported(op, t.name, &format!("use {allowed}")));
    }
    let raw = string_literal(t.name, value)?;
    let normalized = if t.lower {
        raw.to_lowercase()
    } else {
        raw.to_owned()
    };
    let bound = if is_pattern(op) {
        like_pattern(t.name, op, &normalized)?
    } else {
        normalized
    };
    Ok(comparison(t.column, op, Part::Text(bound)))
}

const STATUSES: [&str; 3] = ["Active", "Disabled", "Pending"];

fn status(test: Test<'_>) -> Result<Leaf, FilterError> {
    let (op, value) = match test {
        Test::Present => return Ok(null_check("u.status", true)),
        Test::Absent => return Ok(null_check("u.status", false)),
        Test::Compare(op, value) => (op, value),
    };
    if !matches!(op, CompareOp::Eq | CompareOp::Ne) {
        return Err(unsupported(op, "status", "use eq, ne or pr"));
    }
    let s = string_literal("status", value)?;
    if !STATUSES.contains(&s) {
        return Err(FilterError(format!(
            "`status` is one of \"Active\", \"Disabled\" or \"Pending\" (case matters), not {value}"
        )));
    }
    Ok(comparison("u.status", op, Part::Text(s.to_owned())))
}

const DATE_OPS: &str = "use eq, ne, gt, ge, lt, le or pr";

fn timestamp(t: &TimeAttr, test: Test<'_>) -> Result<Leaf, FilterError> {
    let (op, value) = match test {
        Test::Present => return Ok(null_check(t.column, true)),
        Test::Absent => return Ok(null_check(t.column, false)),
        Test::Compare(op, value) => (op, value),
    };
    if is_pattern(op) {
        return Err(unsupported(op, t.name, DATE_OPS));
    }
    let expected = if t.epoch_ms {
        "an ISO 8601 date-time string (\"2024-05-01T12:00:00Z\" or \"2024-05-01\") or epoch milliseconds"
    } else {
        "an ISO 8601 date-time string (\"2024-05-01T12:00:00Z\" or \"2024-05-01\")"
    };
    let instant = match value {
        Literal::String(s) => parse_instant(s),
        Literal::Number(n) if t.epoch_ms => n.as_i64().and_then(DateTime::from_timestamp_millis),
        _ => None,
    };
    let instant = instant.ok_or_else(|| wrong_type(t.name, expected, value))?;
    if instant.date_naive() < earliest_date() {
        return Err(too_early(t.name));
    }
    Ok(comparison(t.column, op, Part::Time(instant)))
}

/// The first day PostgreSQL's `timestamptz` holds (4714-11-24 BC, Julian
/// day 0). chrono reaches further back (epoch milliseconds down to year
/// -262143), and binding an earlier value is a database error, not an
/// empty result. (A 10-character date cannot go below year -999.)
fn earliest_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(-4713, 11, 24).unwrap_or(NaiveDate::MIN)
}

fn too_early(name: &str) -> FilterError {
    FilterError(format!(
        "`{name}` compares with times from 4714-11-24 BC on; nothing is stored before"
    ))
}

/// RFC 3339, or a bare date meaning its midnight in UTC.
fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    parse_date(s).map(|d| d.and_time(NaiveTime::MIN).and_utc())
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    // chrono alone would also take "2024-5-1".
    if s.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

fn birthday(test: Test<'_>) -> Result<Leaf, FilterError> {
    let (op, value) = match test {
        Test::Present => return Ok(null_check("u.birthday", true)),
        Test::Absent => return Ok(null_check("u.birthday", false)),
        Test::Compare(op, value) => (op, value),
    };
    if is_pattern(op) {
        return Err(unsupported(op, "birthday", DATE_OPS));
    }
    let date = match value {
        Literal::String(s) => parse_date(s),
        _ => None,
    };
    let date = date.ok_or_else(|| wrong_type("birthday", "a date string \"YYYY-MM-DD\"", value))?;
    Ok(comparison("u.birthday", op, Part::Date(date)))
}

fn contacts(
    name: &str,
    column: &'static str,
    lower: bool,
    test: Test<'_>,
) -> Result<Leaf, FilterError> {
    // The same text as the predicates of V3's partial indexes.
    let (op, value) = match test {
        Test::Present => {
            return Ok(Leaf(vec![
                Part::Sql("("),
                Part::Sql(column),
                Part::Sql(" <> '[]'::jsonb)"),
            ]));
        }
        Test::Absent => {
            return Ok(Leaf(vec![
                Part::Sql("("),
                Part::Sql(column),
                Part::Sql(" = '[]'::jsonb)"),
            ]));
        }
        Test::Compare(op, value) => (op, value),
    };
    if !matches!(op, CompareOp::Eq | CompareOp::Ne) {
        return Err(unsupported(op, name, "use eq, ne or pr"));
    }
    let s = string_literal(name, value)?;
    let s = if lower {
        s.to_lowercase()
    } else {
        s.to_owned()
    };
    let needle = Value::from_iter([Value::from_iter([("value", s)])]);
    Ok(containment(column, op == CompareOp::Ne, needle))
}

/// `column @> needle`, or its two-valued negation.
fn containment(column: &'static str, negate: bool, needle: Value) -> Leaf {
    Leaf(vec![
        Part::Sql("(("),
        Part::Sql(column),
        Part::Sql(" @> "),
        Part::Json(needle),
        Part::Sql(if negate { ") IS NOT TRUE)" } else { "))" }),
    ])
}

/// Whether the object in `column` holds a non-null value at `keys`. The
/// top-level key test is what the GIN index answers (a path-only `@?`
/// would read the whole index); `#>` then checks the full path.
fn key_present(column: &'static str, keys: Vec<String>, negate: bool) -> Leaf {
    let first = keys.first().cloned().unwrap_or_default();
    Leaf(vec![
        Part::Sql("(("),
        Part::Sql(column),
        Part::Sql(" ? "),
        Part::Text(first),
        Part::Sql(" AND jsonb_typeof("),
        Part::Sql(column),
        Part::Sql(" #> "),
        Part::Texts(keys),
        Part::Sql(") <> 'null')"),
        Part::Sql(if negate { " IS NOT TRUE)" } else { ")" }),
    ])
}

fn name_field(f: &NameField, test: Test<'_>) -> Result<Leaf, FilterError> {
    let (op, value) = match test {
        Test::Present => return Ok(key_present("u.name", vec![f.key.to_owned()], false)),
        Test::Absent => return Ok(key_present("u.name", vec![f.key.to_owned()], true)),
        Test::Compare(op, value) => (op, value),
    };
    let Some(lowered) = f.lowered else {
        return Err(unsupported(
            op,
            f.name,
            "only pr is indexed on it (name.first_name and name.last_name take eq, ne, sw, co and ew)",
        ));
    };
    if is_ordering(op) {
        return Err(unsupported(op, f.name, "use eq, ne, sw, co, ew or pr"));
    }
    let s = string_literal(f.name, value)?;
    let bound = if is_pattern(op) {
        like_pattern(f.name, op, s)?
    } else {
        s.to_owned()
    };
    // lower() in SQL rather than in Rust so that both sides fold case by the
    // same rules; the planner turns it into a constant.
    Ok(Leaf(vec![
        Part::Sql("("),
        Part::Sql(lowered),
        Part::Sql(operator_sql(op)),
        Part::Sql("lower("),
        Part::Text(bound),
        Part::Sql("))"),
    ]))
}

fn address_field(field: &'static str, test: Test<'_>) -> Result<Leaf, FilterError> {
    let (op, value) = match test {
        Test::Present => return Ok(key_present("u.address", vec![field.to_owned()], false)),
        Test::Absent => return Ok(key_present("u.address", vec![field.to_owned()], true)),
        Test::Compare(op, value) => (op, value),
    };
    let attr = format!("address.{field}");
    if !matches!(op, CompareOp::Eq | CompareOp::Ne) {
        return Err(unsupported(
            op,
            &attr,
            "use eq, ne or pr (address fields compare exactly, case included)",
        ));
    }
    let s = string_literal(&attr, value)?;
    let needle = Value::from_iter([(field, s)]);
    Ok(containment("u.address", op == CompareOp::Ne, needle))
}

fn document(d: &DocAttr<'_>, test: Test<'_>) -> Result<Leaf, FilterError> {
    let (op, value) = match test {
        Test::Present => return Ok(key_present(d.column, d.keys.to_vec(), false)),
        Test::Absent => return Ok(key_present(d.column, d.keys.to_vec(), true)),
        Test::Compare(op, value) => (op, value),
    };
    if !matches!(op, CompareOp::Eq | CompareOp::Ne) {
        return Err(unsupported(op, d.name, "use eq, ne or pr"));
    }
    let leaf = scalar_json(d, value)?;
    let needle = d
        .keys
        .iter()
        .rev()
        .fold(leaf, |inner, key| Value::from_iter([(key.as_str(), inner)]));
    Ok(containment(d.column, op == CompareOp::Ne, needle))
}

fn scalar_json(d: &DocAttr<'_>, value: &Literal) -> Result<Value, FilterError> {
    match value {
        Literal::String(s) => Ok(Value::String(s.clone())),
        Literal::Bool(b) => Ok(Value::Bool(*b)),
        Literal::Number(n) => json_number(n.as_str()).ok_or_else(|| {
            FilterError(format!(
                "`{}`: the number {n} is out of range",
                d.full_name()
            ))
        }),
        Literal::Null => Ok(Value::Null),
    }
}

/// Integers stay exact; jsonb compares numbers by value, so `1.0` still
/// matches a stored `1`.
fn json_number(text: &str) -> Option<Value> {
    if let Ok(i) = text.parse::<i64>() {
        return Some(Value::from(i));
    }
    if let Ok(u) = text.parse::<u64>() {
        return Some(Value::from(u));
    }
    text.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(Value::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use idstore_domain::filter::parse;

    fn sql(filter: &str) -> String {
        let mut qb = QueryBuilder::<Postgres>::new("");
        push_filter(&mut qb, &parse(filter).unwrap()).unwrap();
        qb.into_string()
    }

    fn error(filter: &str) -> String {
        let parsed = parse(filter).unwrap();
        let mut qb = QueryBuilder::<Postgres>::new("");
        let e = push_filter(&mut qb, &parsed).expect_err(filter);
        assert_eq!(check(&parsed), Err(e.clone()));
        assert_eq!(qb.into_string(), "", "nothing is pushed on error");
        e.0
    }

    #[test]
    fn an_injection_attempt_in_a_value_reaches_sql_only_as_a_placeholder() {
        let text = sql(r#"email eq "x' OR 1=1 --" or username sw "a'; DROP TABLE users; --""#);
        assert_eq!(
            text,
            "((u.email_normalized = $1) OR (u.username_normalized LIKE $2))"
        );
    }

    #[test]
    fn custom_data_keys_reach_sql_only_as_placeholders() {
        let text = sql(r#"custom_data.a_b-c.d eq "'}" and custom_app_data.x_y pr"#);
        for user_text in ["a_b", "x_y", "'}"] {
            assert!(!text.contains(user_text), "{user_text} in {text}");
        }
        assert_eq!(
            text,
            "(((u.custom_data @> $1)) AND ((ua.custom_app_data ? $2 AND jsonb_typeof(ua.custom_app_data #> $3) <> 'null')))"
        );
    }

    #[test]
    fn every_value_is_bound_never_written_into_the_sql() {
        let text = sql(
            r#"name.first_name co "evil" or address.city eq "evil" or status eq "Active" or birthday lt "2000-01-01" or created_at gt 1700000000000 or secondary_emails eq "evil@x.io" or external_account_id sw "evil" or phone_number ew "666""#,
        );
        assert!(!text.contains("evil") && !text.contains("666") && !text.contains("Active"));
        assert_eq!(text.matches('$').count(), 8, "{text}");
    }

    #[test]
    fn times_before_the_first_day_postgresql_stores_are_refused() {
        // 4714-11-24 BC 00:00 UTC is -210866803200000 ms.
        for early in ["-210866803200001", "-8000000000000000"] {
            let e = error(&format!("created_at gt {early}"));
            assert!(e.contains("4714-11-24 BC"), "{early}: {e}");
        }
        assert_eq!(sql("created_at gt -210866803200000"), "(u.created_at > $1)");
    }

    #[test]
    fn and_or_not_keep_the_filter_structure() {
        assert_eq!(
            sql(r#"not (email pr or phone_number pr) and user_id eq "u1""#),
            "((((u.email_normalized IS NOT NULL) OR (u.phone_number IS NOT NULL)) IS NOT TRUE) AND (u.user_id = $1))"
        );
    }

    #[test]
    fn null_comparisons_become_presence_tests() {
        assert_eq!(sql("last_auth eq null"), "(u.last_auth IS NULL)");
        assert_eq!(sql("last_auth ne null"), "(u.last_auth IS NOT NULL)");
        assert_eq!(
            sql(r#"email ne "a@b.c""#),
            "(u.email_normalized IS DISTINCT FROM $1)"
        );
        assert_eq!(
            sql("custom_app_data.k eq null"),
            "((ua.custom_app_data ? $1 AND jsonb_typeof(ua.custom_app_data #> $2) <> 'null') IS NOT TRUE)"
        );
    }

    #[test]
    fn top_level_attribute_names_are_case_insensitive() {
        assert_eq!(sql(r#"EMAIL eq "a@b.c""#), sql(r#"email eq "a@b.c""#));
        assert_eq!(
            sql(r#"Name.First_Name eq "x""#),
            sql(r#"name.first_name eq "x""#)
        );
    }

    #[test]
    fn name_comparisons_use_the_indexed_lower_case_expression() {
        assert_eq!(
            sql(r#"name.last_name sw "Sm""#),
            "(lower(u.name ->> 'last_name') LIKE lower($1))"
        );
    }

    #[test]
    fn an_unknown_attribute_lists_the_searchable_ones() {
        let e = error(r#"password eq "x""#);
        assert!(
            e.starts_with("unknown attribute `password`; searchable attributes are email,"),
            "{e}"
        );
        assert!(error("email.x pr").starts_with("unknown attribute `email.x`"));
        assert!(error("name.nickname pr").starts_with("unknown attribute `name.nickname`"));
        assert!(error("custom_data pr").contains("needs a key"));
    }

    #[test]
    fn a_literal_of_the_wrong_type_names_the_attribute_and_the_expected_type() {
        assert_eq!(
            error("email eq 5"),
            "`email` compares with a string, not a number"
        );
        assert!(
            error(r#"created_at gt "yesterday""#)
                .starts_with("`created_at` compares with an ISO 8601")
        );
        assert!(
            error("last_auth gt 1700000000000")
                .starts_with("`last_auth` compares with an ISO 8601")
        );
        assert!(error(r#"birthday eq "2000-1-1""#).contains("\"YYYY-MM-DD\""));
        assert!(error(r#"status eq "active""#).contains("\"Active\", \"Disabled\" or \"Pending\""));
        assert_eq!(
            error("email gt null"),
            "`gt` on `email` needs a value; null works only with eq and ne"
        );
    }

    #[test]
    fn an_operator_no_index_serves_is_refused_with_a_hint() {
        assert_eq!(
            error(r#"custom_data.plan co "gold""#),
            "`co` is not supported on `custom_data`; use eq, ne or pr"
        );
        assert!(error(r#"user_id co "abc""#).ends_with("use eq, ne, sw, gt, ge, lt, le or pr"));
        assert!(error(r#"status gt "Active""#).ends_with("use eq, ne or pr"));
        assert!(error(r#"name.middle_name eq "x""#).contains("only pr is indexed"));
        assert!(error(r#"address.city sw "Par""#).contains("use eq, ne or pr"));
        assert!(error(r#"secondary_emails co "abc""#).contains("use eq, ne or pr"));
        assert!(error(r#"created_at sw "2024""#).contains("use eq, ne, gt"));
    }

    #[test]
    fn infix_searches_need_three_characters() {
        assert!(error(r#"email co "ab""#).contains("at least 3 characters"));
        assert!(error(r#"email sw """#).contains("at least one character"));
        assert_eq!(sql(r#"email co "abc""#), "(u.email_normalized LIKE $1)");
    }

    #[test]
    fn like_prefix_escapes_the_like_metacharacters() {
        assert_eq!(like_prefix("a%b_c\\d"), "a\\%b\\_c\\\\d%");
        assert_eq!(like_prefix(""), "%");
        assert_eq!(like_infix("50%"), "%50\\%%");
        assert_eq!(like_suffix("_x"), "%\\_x");
    }

    #[test]
    fn dates_accept_rfc_3339_bare_dates_and_epoch_milliseconds_where_the_wire_uses_them() {
        assert_eq!(
            parse_instant("2024-05-01"),
            DateTime::from_timestamp(1_714_521_600, 0)
        );
        assert_eq!(
            parse_instant("2024-05-01T02:00:00+02:00"),
            DateTime::from_timestamp(1_714_521_600, 0)
        );
        assert_eq!(sql("created_at ge 1714521600000"), "(u.created_at >= $1)");
    }

    #[test]
    fn parse_and_compile_of_a_five_clause_filter_is_fast() {
        let input = r#"email sw "ann" and status eq "Active" and created_at gt "2024-01-01" and (custom_data.plan eq "gold" or name.last_name co "smith")"#;
        let runs = 2000;
        let start = std::time::Instant::now();
        for _ in 0..runs {
            let filter = parse(input).unwrap();
            let mut qb = QueryBuilder::<Postgres>::new("");
            push_filter(&mut qb, &filter).unwrap();
            std::hint::black_box(qb.into_string());
        }
        let each = start.elapsed() / runs;
        // Debug builds are ~10x slower than release; the target is 20 us there.
        assert!(
            each < std::time::Duration::from_micros(200),
            "{each:?} per filter"
        );
    }
}
