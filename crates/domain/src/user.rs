//! A user's tenant-level profile and the rules of changing it: what an
//! update replaces, what it merges, and what verification does to a
//! primary identifier. Validation happens before values get here; these
//! rules only combine already valid values.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::contact::{Email, Phone, Username};

/// Largest `custom_data` (and each application's `custom_app_data`) a user
/// may hold, serialized: checked per request and again after merging.
pub const MAX_CUSTOM_DATA_BYTES: usize = 16 * 1024;
/// Most secondary emails (or phones) a user may have.
pub const MAX_SECONDARIES: usize = 20;

/// An email or phone number with its verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact<T> {
    pub value: T,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<DateTime<Utc>>,
}

impl<T> Contact<T> {
    pub fn unverified(value: T) -> Self {
        Self {
            value,
            verified_at: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Active,
    Disabled,
    Pending,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Disabled => "Disabled",
            Self::Pending => "Pending",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Active" => Some(Self::Active),
            "Disabled" => Some(Self::Disabled),
            "Pending" => Some(Self::Pending),
            _ => None,
        }
    }
}

/// `ApiUserNameInput`: every part optional, stored and returned as given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Name {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AddressType {
    Home,
    Work,
    Other,
}

/// `ApiCreateOrUpdateAddressInput`; `updated_at` (epoch ms) is stamped
/// when an address is set, as `ApiAddress` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<AddressType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
}

/// The tenant-level fields of a user that an update may change.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub email: Option<Contact<Email>>,
    pub phone_number: Option<Contact<Phone>>,
    pub secondary_emails: Vec<Contact<Email>>,
    pub secondary_phone_numbers: Vec<Contact<Phone>>,
    /// As given; uniqueness compares its key.
    pub username: Option<Username>,
    pub external_user_id: Option<String>,
    pub name: Option<Name>,
    pub address: Option<Address>,
    pub birthday: Option<NaiveDate>,
    pub picture: Option<String>,
    pub language: Option<String>,
    pub custom_data: Map<String, Value>,
    pub status: Status,
    pub status_changed_at: Option<DateTime<Utc>>,
}

/// A validated `PUT /v1/users/{id}` for the tenant-level fields: `None`
/// leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfilePatch {
    pub email: Option<Email>,
    pub phone_number: Option<Phone>,
    pub secondary_emails: Option<Vec<Email>>,
    pub secondary_phone_numbers: Option<Vec<Phone>>,
    pub username: Option<Username>,
    pub external_user_id: Option<String>,
    pub name: Option<Name>,
    pub address: Option<Address>,
    pub birthday: Option<NaiveDate>,
    pub picture: Option<String>,
    pub language: Option<String>,
    pub custom_data: Option<Map<String, Value>>,
    pub status: Option<Status>,
}

/// Which kinds of a user's data a patch changes: what an operator may
/// deny an application's clients.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Touches {
    /// Emails, phone numbers, username, external_user_id.
    pub identifiers: bool,
    pub status: bool,
    /// Everything else of the tenant-wide profile.
    pub profile: bool,
}

impl ProfilePatch {
    pub fn touches(&self) -> Touches {
        // Destructured whole, so that a new field must be placed here.
        let Self {
            email,
            phone_number,
            secondary_emails,
            secondary_phone_numbers,
            username,
            external_user_id,
            name,
            address,
            birthday,
            picture,
            language,
            custom_data,
            status,
        } = self;
        Touches {
            identifiers: email.is_some()
                || phone_number.is_some()
                || secondary_emails.is_some()
                || secondary_phone_numbers.is_some()
                || username.is_some()
                || external_user_id.is_some(),
            status: status.is_some(),
            profile: name.is_some()
                || address.is_some()
                || birthday.is_some()
                || picture.is_some()
                || language.is_some()
                || custom_data.is_some(),
        }
    }
}

impl Profile {
    /// A user with nothing set yet: creating a user applies its input to this.
    pub fn empty() -> Self {
        Self {
            email: None,
            phone_number: None,
            secondary_emails: Vec::new(),
            secondary_phone_numbers: Vec::new(),
            username: None,
            external_user_id: None,
            name: None,
            address: None,
            birthday: None,
            picture: None,
            language: None,
            custom_data: Map::new(),
            status: Status::Active,
            status_changed_at: None,
        }
    }

    /// Applies an update: scalars and `name`/`address` are replaced whole,
    /// `custom_data` is shallow-merged (`null` deletes a key), secondary
    /// emails and phones are appended without duplicates, a new primary
    /// starts unverified, and a status change is stamped.
    pub fn apply(&mut self, patch: ProfilePatch, now: DateTime<Utc>) {
        if let Some(email) = patch.email {
            set_primary(&mut self.email, &mut self.secondary_emails, email);
        }
        if let Some(phone) = patch.phone_number {
            set_primary(
                &mut self.phone_number,
                &mut self.secondary_phone_numbers,
                phone,
            );
        }
        if let Some(more) = patch.secondary_emails {
            append_unique(&mut self.secondary_emails, self.email.as_ref(), more);
        }
        if let Some(more) = patch.secondary_phone_numbers {
            append_unique(
                &mut self.secondary_phone_numbers,
                self.phone_number.as_ref(),
                more,
            );
        }
        replace(&mut self.username, patch.username);
        replace(&mut self.external_user_id, patch.external_user_id);
        replace(&mut self.name, patch.name);
        if let Some(mut address) = patch.address {
            address.updated_at = Some(now.timestamp_millis());
            self.address = Some(address);
        }
        replace(&mut self.birthday, patch.birthday);
        replace(&mut self.picture, patch.picture);
        replace(&mut self.language, patch.language);
        if let Some(changes) = patch.custom_data {
            merge_shallow(&mut self.custom_data, changes);
        }
        if let Some(status) = patch.status
            && status != self.status
        {
            self.status = status;
            self.status_changed_at = Some(now);
        }
    }

    /// Marks `email` verified; with `change_to_primary`, a secondary email
    /// becomes the primary and the old primary becomes a secondary, each
    /// keeping its own verification. `false` when the user has no such email.
    pub fn verify_email(
        &mut self,
        email: &Email,
        change_to_primary: bool,
        now: DateTime<Utc>,
    ) -> bool {
        verify(
            &mut self.email,
            &mut self.secondary_emails,
            email,
            change_to_primary,
            now,
        )
    }

    /// As [`Profile::verify_email`], for phone numbers.
    pub fn verify_phone(
        &mut self,
        phone: &Phone,
        change_to_primary: bool,
        now: DateTime<Utc>,
    ) -> bool {
        verify(
            &mut self.phone_number,
            &mut self.secondary_phone_numbers,
            phone,
            change_to_primary,
            now,
        )
    }
}

fn replace<T>(field: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *field = value;
    }
}

/// A changed primary starts unverified; an unchanged one keeps its
/// verification. The new primary leaves the secondaries so that a value
/// is listed once.
fn set_primary<T: PartialEq>(
    primary: &mut Option<Contact<T>>,
    secondaries: &mut Vec<Contact<T>>,
    value: T,
) {
    if primary.as_ref().is_some_and(|p| p.value == value) {
        return;
    }
    secondaries.retain(|c| c.value != value);
    *primary = Some(Contact::unverified(value));
}

/// Appends values not already present (as a secondary or as the primary),
/// in the order given.
pub fn append_unique<T: PartialEq>(
    list: &mut Vec<Contact<T>>,
    primary: Option<&Contact<T>>,
    values: Vec<T>,
) {
    for value in values {
        let known =
            primary.is_some_and(|p| p.value == value) || list.iter().any(|c| c.value == value);
        if !known {
            list.push(Contact::unverified(value));
        }
    }
}

/// Top-level keys of `changes` replace those of `target`; a `null` removes
/// the key.
pub fn merge_shallow(target: &mut Map<String, Value>, changes: Map<String, Value>) {
    for (key, value) in changes {
        if value.is_null() {
            target.remove(&key);
        } else {
            target.insert(key, value);
        }
    }
}

fn verify<T: PartialEq>(
    primary: &mut Option<Contact<T>>,
    secondaries: &mut Vec<Contact<T>>,
    value: &T,
    change_to_primary: bool,
    now: DateTime<Utc>,
) -> bool {
    if let Some(p) = primary.as_mut().filter(|p| p.value == *value) {
        p.verified_at = Some(now);
        return true;
    }
    let Some(at) = secondaries.iter().position(|c| c.value == *value) else {
        return false;
    };
    secondaries[at].verified_at = Some(now);
    if change_to_primary {
        let promoted = secondaries.remove(at);
        if let Some(old) = primary.replace(promoted) {
            secondaries.insert(at, old);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn email(s: &str) -> Email {
        Email::parse(s).unwrap()
    }

    fn profile() -> Profile {
        Profile {
            email: Some(Contact::unverified(email("a@x.io"))),
            ..Profile::empty()
        }
    }

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    #[test]
    fn an_empty_update_changes_nothing() {
        let mut p = profile();
        p.apply(ProfilePatch::default(), t(5));
        assert_eq!(p, profile());
    }

    #[test]
    fn name_and_address_are_replaced_whole() {
        let mut p = profile();
        p.name = Some(Name {
            first_name: Some("Ann".into()),
            last_name: Some("Lee".into()),
            ..Name::default()
        });
        let patch = ProfilePatch {
            name: Some(Name {
                first_name: Some("Bo".into()),
                ..Name::default()
            }),
            address: Some(Address {
                city: Some("Oslo".into()),
                ..Address::default()
            }),
            ..ProfilePatch::default()
        };
        p.apply(patch, t(7));
        let name = p.name.unwrap();
        assert_eq!(name.first_name.as_deref(), Some("Bo"));
        assert_eq!(name.last_name, None, "the old last name must not survive");
        assert_eq!(p.address.unwrap().updated_at, Some(7000));
    }

    #[test]
    fn a_new_primary_starts_unverified_and_an_unchanged_one_keeps_its_verification() {
        let mut p = profile();
        p.email.as_mut().unwrap().verified_at = Some(t(1));
        p.apply(
            ProfilePatch {
                email: Some(email("a@x.io")),
                ..ProfilePatch::default()
            },
            t(2),
        );
        assert_eq!(p.email.as_ref().unwrap().verified_at, Some(t(1)));
        p.apply(
            ProfilePatch {
                email: Some(email("b@x.io")),
                ..ProfilePatch::default()
            },
            t(3),
        );
        assert_eq!(p.email, Some(Contact::unverified(email("b@x.io"))));
    }

    #[test]
    fn a_status_change_is_stamped_and_a_repeat_is_not() {
        let mut p = profile();
        let disable = ProfilePatch {
            status: Some(Status::Disabled),
            ..ProfilePatch::default()
        };
        p.apply(disable.clone(), t(10));
        assert_eq!(
            (p.status, p.status_changed_at),
            (Status::Disabled, Some(t(10)))
        );
        p.apply(disable, t(20));
        assert_eq!(p.status_changed_at, Some(t(10)));
    }

    #[test]
    fn verifying_a_secondary_as_primary_swaps_them_keeping_each_verification() {
        let mut p = profile();
        p.email.as_mut().unwrap().verified_at = Some(t(1));
        p.secondary_emails = vec![Contact::unverified(email("b@x.io"))];
        assert!(p.verify_email(&email("b@x.io"), true, t(9)));
        assert_eq!(
            p.email,
            Some(Contact {
                value: email("b@x.io"),
                verified_at: Some(t(9))
            })
        );
        assert_eq!(
            p.secondary_emails,
            vec![Contact {
                value: email("a@x.io"),
                verified_at: Some(t(1))
            }]
        );
        assert!(!p.verify_email(&email("c@x.io"), true, t(9)));
    }

    #[test]
    fn verifying_without_promotion_leaves_the_primary_alone() {
        let mut p = profile();
        p.secondary_emails = vec![Contact::unverified(email("b@x.io"))];
        assert!(p.verify_email(&email("b@x.io"), false, t(4)));
        assert_eq!(p.email, Some(Contact::unverified(email("a@x.io"))));
        assert_eq!(p.secondary_emails[0].verified_at, Some(t(4)));
    }

    fn json_map() -> impl Strategy<Value = Map<String, Value>> {
        prop::collection::btree_map(
            "[a-d]",
            prop_oneof![
                Just(Value::Null),
                any::<i32>().prop_map(|n| json!(n)),
                "[a-z]{0,3}".prop_map(|s| json!(s)),
            ],
            0..5,
        )
        .prop_map(|m| m.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn merging_keeps_untouched_keys_sets_given_ones_and_null_deletes(
            base in json_map(), changes in json_map()
        ) {
            let base: Map<String, Value> = base.into_iter().filter(|(_, v)| !v.is_null()).collect();
            let mut merged = base.clone();
            merge_shallow(&mut merged, changes.clone());
            for (k, v) in &changes {
                if v.is_null() {
                    prop_assert!(!merged.contains_key(k));
                } else {
                    prop_assert_eq!(merged.get(k), Some(v));
                }
            }
            for (k, v) in &base {
                if !changes.contains_key(k) {
                    prop_assert_eq!(merged.get(k), Some(v));
                }
            }
            prop_assert!(merged.keys().all(|k| base.contains_key(k) || changes.contains_key(k)));
        }

        #[test]
        fn appending_keeps_order_adds_each_new_value_once_and_never_the_primary(
            existing in prop::collection::vec("[a-c]", 0..4),
            added in prop::collection::vec("[a-e]", 0..6),
            primary in "[a-e]",
        ) {
            let mut seed: Vec<String> = vec![];
            for e in existing { if !seed.contains(&e) && e != primary { seed.push(e); } }
            let mut list: Vec<Contact<String>> = seed.iter().cloned().map(Contact::unverified).collect();
            let primary = Contact::unverified(primary);
            append_unique(&mut list, Some(&primary), added.clone());
            let values: Vec<&str> = list.iter().map(|c| c.value.as_str()).collect();
            prop_assert_eq!(&values[..seed.len()], &seed.iter().map(String::as_str).collect::<Vec<_>>()[..]);
            let mut seen = std::collections::HashSet::new();
            prop_assert!(values.iter().all(|v| seen.insert(*v)), "duplicates in {:?}", values);
            prop_assert!(!values.contains(&primary.value.as_str()));
            for a in &added {
                prop_assert!(a == &primary.value || values.contains(&a.as_str()));
            }
        }

        #[test]
        fn an_update_touches_only_the_fields_it_names(first in proptest::option::of("[A-Z][a-z]{0,5}"), city in proptest::option::of("[A-Z][a-z]{0,5}")) {
            let mut p = profile();
            p.custom_data.insert("keep".into(), json!(1));
            let patch = ProfilePatch {
                name: first.clone().map(|f| Name { first_name: Some(f), ..Name::default() }),
                address: city.clone().map(|c| Address { city: Some(c), ..Address::default() }),
                ..ProfilePatch::default()
            };
            p.apply(patch, t(3));
            prop_assert_eq!(p.email.clone(), profile().email);
            prop_assert_eq!(p.custom_data.get("keep"), Some(&json!(1)));
            prop_assert_eq!(p.name.and_then(|n| n.first_name), first);
            prop_assert_eq!(p.address.and_then(|a| a.city), city);
        }
    }
}
