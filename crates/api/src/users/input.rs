//! Request bodies and parameters of the Users API, and their validation
//! into domain values. Every problem found is reported at once, each
//! naming its field; nothing is written unless all of them pass.

use chrono::NaiveDate;
use idstore_domain::contact::{Email, Phone, Username};
use idstore_domain::user::{
    Address, MAX_CUSTOM_DATA_BYTES, MAX_SECONDARIES, Name, ProfilePatch, Status,
};
use idstore_store::users::AppData;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::ApiError;

const MAX_PASSWORD_CHARS: usize = 1024;

/// `ApiUserPasswordInput`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordInput {
    pub password: SecretString,
    pub force_replace: Option<bool>,
}

/// `DelegatedAccessInput`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelegatedAccessInput {
    pub actor_id: String,
    pub permissions: Vec<String>,
}

/// Declares a user body: the profile fields create and update share, then
/// its own. `validate_profile` checks the shared ones into `p` and returns
/// the update they describe (status unchanged), with the body's own fields
/// as they came.
macro_rules! user_body {
    ($(#[$doc:meta])* $name:ident { $($own:ident: $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            pub email: Option<String>,
            pub phone_number: Option<String>,
            pub username: Option<String>,
            pub secondary_emails: Option<Vec<String>>,
            pub secondary_phone_numbers: Option<Vec<String>>,
            pub birthday: Option<String>,
            pub address: Option<Address>,
            pub name: Option<Name>,
            pub external_account_id: Option<String>,
            pub custom_app_data: Option<Map<String, Value>>,
            pub picture: Option<String>,
            pub language: Option<String>,
            pub custom_data: Option<Map<String, Value>>,
            pub external_user_id: Option<String>,
            $(pub $own: $ty,)*
        }

        impl $name {
            #[allow(unused_parens)]
            fn validate_profile(self, p: &mut Problems) -> (ProfilePatch, AppData, ($($ty),*)) {
                p.name(&self.name);
                p.address(&self.address);
                p.picture(self.picture.as_deref());
                p.language(self.language.as_deref());
                p.custom("custom_data", &self.custom_data);
                p.custom("custom_app_data", &self.custom_app_data);
                p.text("external_user_id", self.external_user_id.as_deref(), 256);
                p.text("external_account_id", self.external_account_id.as_deref(), 256);
                let patch = ProfilePatch {
                    email: p.email("email", self.email),
                    phone_number: p.phone("phone_number", self.phone_number),
                    secondary_emails: p.list("secondary_emails", self.secondary_emails, Email::parse),
                    secondary_phone_numbers: p.list(
                        "secondary_phone_numbers",
                        self.secondary_phone_numbers,
                        Phone::parse,
                    ),
                    username: p.username(self.username),
                    external_user_id: self.external_user_id,
                    name: self.name,
                    address: self.address,
                    birthday: p.birthday(self.birthday),
                    picture: self.picture,
                    language: self.language,
                    custom_data: self.custom_data,
                    status: None,
                };
                let app = AppData {
                    external_account_id: self.external_account_id,
                    custom_app_data: self.custom_app_data,
                };
                (patch, app, ($(self.$own),*))
            }
        }
    };
}

user_body!(
    /// `ApiCreateUserInput`.
    CreateUserInput {
        credentials: Option<PasswordInput>,
        delegated_access: Option<DelegatedAccessInput>,
    }
);

user_body!(
    /// `ApiUpdateUserInput`.
    UpdateUserInput { status: Option<Status> }
);

/// `UserVerifyEmailOrPhoneNumberInput`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyInput {
    pub change_to_primary: Option<bool>,
}

/// Collects every problem of one request.
#[derive(Default)]
pub struct Problems(Vec<String>);

impl Problems {
    pub fn add(&mut self, message: impl Into<String>) {
        self.0.push(message.into());
    }

    /// A `page_limit` from 1 to `max`, `max` when left out (or wrong,
    /// which is noted).
    pub fn page_limit(&mut self, value: Option<&str>, max: i64) -> i64 {
        match value.map(|v| whole_number("page_limit", v, 1, max)) {
            None => max,
            Some(Ok(limit)) => limit,
            Some(Err(e)) => {
                self.add(e);
                max
            }
        }
    }

    /// `Ok` when nothing was found wrong.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::BadRequest(self.0))
        }
    }

    fn keep<T>(&mut self, result: Result<T, String>) -> Option<T> {
        result.map_err(|e| self.add(e)).ok()
    }

    pub fn email(&mut self, field: &str, value: Option<String>) -> Option<Email> {
        let v = value?;
        self.keep(Email::parse(&v).map_err(|e| format!("{field}: {e}")))
    }

    pub fn phone(&mut self, field: &str, value: Option<String>) -> Option<Phone> {
        let v = value?;
        self.keep(Phone::parse(&v).map_err(|e| format!("{field}: {e}")))
    }

    fn list<T>(
        &mut self,
        field: &str,
        values: Option<Vec<String>>,
        parse: fn(&str) -> Result<T, String>,
    ) -> Option<Vec<T>> {
        let values = values?;
        if values.len() > MAX_SECONDARIES {
            self.add(format!(
                "{field} may hold at most {MAX_SECONDARIES} entries"
            ));
            return None;
        }
        let checked: Vec<_> = values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| self.keep(parse(v).map_err(|e| format!("{field}[{i}]: {e}"))))
            .collect();
        (checked.len() == values.len()).then_some(checked)
    }

    /// `list` as ids, each once, at most `max` of them; a problem for each
    /// that is not one.
    pub fn ids(&mut self, field: &str, list: Vec<String>, max: usize) -> Vec<String> {
        if list.len() > max {
            self.add(format!("{field}: at most {max}"));
            return Vec::new();
        }
        let mut out: Vec<String> = Vec::new();
        for id in list {
            if crate::input::path_id(field, &id).is_err() {
                self.add(format!(
                    "{field}[] holds a value that is not a valid identifier"
                ));
            } else if !out.contains(&id) {
                out.push(id);
            }
        }
        out
    }

    /// Free text of at most `max` characters without control characters
    /// (the rule of [`crate::input::text`], collected rather than returned).
    pub fn text(&mut self, field: &str, value: Option<&str>, max: usize) {
        if let Some(problem) = value.and_then(|v| crate::input::text_problem(field, v, max)) {
            self.add(problem);
        }
    }

    /// `YYYY-MM-DD`, or a full date-time (the spec declares `date-time`,
    /// so clients send `1990-05-17T00:00:00.000Z`) taken as its date in UTC
    /// (CONTRADICTIONS #4).
    fn birthday(&mut self, value: Option<String>) -> Option<NaiveDate> {
        let v = value?;
        let parsed = NaiveDate::parse_from_str(&v, "%Y-%m-%d")
            .ok()
            .filter(|_| v.len() == 10)
            .or_else(|| {
                chrono::DateTime::parse_from_rfc3339(&v)
                    .ok()
                    .map(|t| t.with_timezone(&chrono::Utc).date_naive())
            });
        if parsed.is_none() {
            self.add(format!(
                "birthday must be a date as YYYY-MM-DD, like 1990-04-23, or a date-time like \
                 1990-04-23T00:00:00Z (got `{}`)",
                v.chars().take(40).collect::<String>()
            ));
        }
        parsed
    }

    fn name(&mut self, name: &Option<Name>) {
        if let Some(n) = name {
            for (field, value) in [
                ("name.title", &n.title),
                ("name.first_name", &n.first_name),
                ("name.last_name", &n.last_name),
                ("name.middle_name", &n.middle_name),
            ] {
                self.text(field, value.as_deref(), 30);
            }
        }
    }

    fn address(&mut self, address: &Option<Address>) {
        if let Some(a) = address {
            if a.updated_at.is_some() {
                self.add("address.updated_at is set by idstore and cannot be given");
            }
            for (field, value, max) in [
                ("address.country", &a.country, 30),
                ("address.state", &a.state, 30),
                ("address.city", &a.city, 30),
                ("address.street_address", &a.street_address, 150),
                ("address.postal_code", &a.postal_code, 30),
            ] {
                self.text(field, value.as_deref(), max);
            }
        }
    }

    fn picture(&mut self, picture: Option<&str>) {
        if let Some(p) = picture {
            let ok = p.len() <= 2048
                && !p.chars().any(char::is_control)
                && url::Url::parse(p).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !ok {
                self.add("picture must be an http(s) URL of at most 2048 characters");
            }
        }
    }

    fn language(&mut self, language: Option<&str>) {
        if let Some(l) = language {
            let ok = !l.is_empty()
                && l.len() <= 35
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_,;=.* ".contains(&b));
            if !ok {
                self.add("language must be a language tag like en-US, at most 35 characters");
            }
        }
    }

    fn custom(&mut self, field: &str, data: &Option<Map<String, Value>>) {
        if let Some(d) = data {
            if d.iter()
                .any(|(k, v)| k.contains('\0') || crate::input::json_has_nul(v))
            {
                self.add(format!("{field} may not contain NUL characters"));
            }
            let size = serde_json::to_vec(d).map(|v| v.len()).unwrap_or(usize::MAX);
            if size > MAX_CUSTOM_DATA_BYTES {
                self.add(format!(
                    "{field} is {size} bytes serialized; the limit is {MAX_CUSTOM_DATA_BYTES}"
                ));
            }
        }
    }

    fn username(&mut self, value: Option<String>) -> Option<Username> {
        let v = value?;
        self.keep(Username::parse(&v))
    }
}

/// The limits on what a user holds in all, checked after an update merged
/// into it: each request is bounded, and so must the sum of many be.
pub fn check_totals(p: &idstore_domain::user::Profile) -> Result<(), ApiError> {
    let mut problems = Problems::default();
    for (field, n) in [
        ("secondary_emails", p.secondary_emails.len()),
        ("secondary_phone_numbers", p.secondary_phone_numbers.len()),
    ] {
        if n > MAX_SECONDARIES {
            problems.add(format!(
                "the user would have {n} {field}; at most {MAX_SECONDARIES} are kept, remove some first"
            ));
        }
    }
    let size = serde_json::to_vec(&p.custom_data).map_or(usize::MAX, |v| v.len());
    if size > MAX_CUSTOM_DATA_BYTES {
        problems.add(format!(
            "custom_data would be {size} bytes after this update; the limit is {MAX_CUSTOM_DATA_BYTES}"
        ));
    }
    problems.finish()
}

/// A validated create: the profile as an update of an empty one, the
/// application's data, and the password to hash.
pub struct NewUserInput {
    pub patch: ProfilePatch,
    pub app: AppData,
    pub password: Option<(SecretString, bool)>,
    pub delegated_access: Option<DelegatedAccessInput>,
}

impl CreateUserInput {
    pub fn validate(self) -> Result<NewUserInput, ApiError> {
        let mut p = Problems::default();
        if self.email.is_none() && self.phone_number.is_none() {
            p.add("email or phone_number is required");
        }
        if self.username.is_some() && self.credentials.is_none() {
            p.add("username can only be set together with credentials (a username identifies a password login)");
        }
        let (patch, app, (credentials, delegated_access)) = self.validate_profile(&mut p);
        let password = credentials.and_then(|c| {
            let len = c.password.expose_secret().chars().count();
            if len == 0 || len > MAX_PASSWORD_CHARS {
                p.add(format!(
                    "credentials.password must be 1 to {MAX_PASSWORD_CHARS} characters"
                ));
                None
            } else {
                Some((c.password, c.force_replace.unwrap_or(true)))
            }
        });
        let delegated_access = delegated_access.inspect(|d| {
            if !idstore_domain::id::is_valid_id(&d.actor_id) {
                p.add("delegated_access.actor_id is not a valid user id");
            }
            if d.permissions.len() > 50 {
                p.add("delegated_access.permissions may hold at most 50 entries");
            }
            for perm in &d.permissions {
                p.text("delegated_access.permissions[]", Some(perm), 100);
            }
        });
        p.finish()?;
        Ok(NewUserInput {
            patch,
            app,
            password,
            delegated_access,
        })
    }
}

impl UpdateUserInput {
    pub fn validate(self) -> Result<(ProfilePatch, AppData), ApiError> {
        let mut p = Problems::default();
        let (mut patch, app, status) = self.validate_profile(&mut p);
        patch.status = status;
        p.finish()?;
        Ok((patch, app))
    }
}

/// `GET /v1/users` parameters, as text so that each bad value gets a
/// message naming it. `organization_id` is idstore's extension
/// (CONTRADICTIONS #9).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    pub search: Option<String>,
    pub page_offset: Option<String>,
    pub page_limit: Option<String>,
    pub search_prefix: Option<String>,
    pub sort_field: Option<String>,
    pub sort_order: Option<String>,
    pub organization_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountParams {
    pub search: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentifierParams {
    pub identifier_name: String,
    pub identifier_value: String,
}

/// Parses a non-negative whole number given for a `type: number` parameter.
pub fn whole_number(field: &str, value: &str, min: i64, max: i64) -> Result<i64, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|n| n.fract() == 0.0 && *n >= min as f64 && *n <= max as f64)
        .map(|n| n as i64)
        .ok_or_else(|| {
            format!(
                "{field} must be a whole number from {min} to {max} (got `{}`)",
                value.chars().take(20).collect::<String>()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn create(body: Value) -> Result<NewUserInput, Vec<String>> {
        let input: CreateUserInput =
            serde_json::from_value(body).map_err(|e| vec![e.to_string()])?;
        input.validate().map_err(|e| match e {
            ApiError::BadRequest(m) => m,
            other => vec![other.to_string()],
        })
    }

    #[test]
    fn a_create_needs_an_email_or_a_phone() {
        let err = create(json!({"name": {"first_name": "Ann"}}))
            .err()
            .unwrap();
        assert_eq!(err, vec!["email or phone_number is required"]);
    }

    #[test]
    fn every_problem_is_reported_at_once_naming_its_field() {
        let err = create(json!({
            "email": "nope",
            "phone_number": "12",
            "name": {"first_name": "x".repeat(31)},
            "address": {"street_address": "s".repeat(151)},
            "birthday": "1990-13-01",
            "picture": "javascript:alert(1)",
            "username": "ann",
        }))
        .err()
        .unwrap();
        for field in [
            "email:",
            "phone_number:",
            "name.first_name",
            "address.street_address",
            "birthday",
            "picture",
            "username can only be set together with credentials",
        ] {
            assert!(
                err.iter().any(|m| m.contains(field)),
                "{field} missing in {err:?}"
            );
        }
    }

    #[test]
    fn values_are_normalized_on_the_way_in() {
        let ok = create(json!({
            "email": "Ann@Example.com",
            "secondary_phone_numbers": ["+1 212 555 0100"],
            "birthday": "1990-04-23"
        }))
        .ok()
        .unwrap();
        assert_eq!(
            ok.patch.email.as_ref().map(Email::as_str),
            Some("ann@example.com")
        );
        assert_eq!(
            ok.patch.secondary_phone_numbers,
            Some(vec![Phone::parse("+12125550100").unwrap()])
        );
        assert_eq!(ok.patch.birthday, NaiveDate::from_ymd_opt(1990, 4, 23));
    }

    #[test]
    fn a_birthday_is_a_date_or_a_date_time_taken_in_utc() {
        for (given, date) in [
            ("1990-05-17", "1990-05-17"),
            ("1990-05-17T00:00:00.000Z", "1990-05-17"),
            ("1990-05-17T23:30:00-02:00", "1990-05-18"),
            ("1990-05-17T01:00:00+02:00", "1990-05-16"),
        ] {
            let ok = create(json!({"email": "a@x.io", "birthday": given}))
                .ok()
                .unwrap();
            assert_eq!(ok.patch.birthday.unwrap().to_string(), date, "{given}");
        }
        for bad in [
            "1990-5-17",
            "17.05.1990",
            "1990-05-17T25:00:00Z",
            "1990-05-17 00:00",
        ] {
            let err = create(json!({"email": "a@x.io", "birthday": bad}))
                .err()
                .unwrap();
            assert!(err[0].contains("birthday"), "{bad}: {err:?}");
        }
    }

    #[test]
    fn oversized_custom_data_is_refused() {
        let big = "x".repeat(MAX_CUSTOM_DATA_BYTES);
        let err = create(json!({"email": "a@x.io", "custom_data": {"k": big}}))
            .err()
            .unwrap();
        assert!(err[0].contains("custom_data"), "{err:?}");
    }

    #[test]
    fn page_numbers_must_be_whole_and_in_range() {
        assert_eq!(whole_number("page_limit", "50", 1, 5000), Ok(50));
        for bad in ["0", "5001", "-1", "1.5", "ten", ""] {
            assert!(whole_number("page_limit", bad, 1, 5000).is_err(), "{bad}");
        }
    }
}
