//! Rendering a user with every field set as the spec's `ApiUser` JSON, the
//! per-user cost of every read and list response. Not a test:
//! `cargo bench -p idstore-api --bench render`.

use std::hint::black_box;

use chrono::{NaiveDate, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use idstore_api::users::wire::ApiUser;
use idstore_api::wire::One;
use idstore_domain::contact::{Email, Phone};
use idstore_domain::user::{Address, AddressType, Contact, Name};
use idstore_store::Json;
use idstore_store::users::UserRow;
use serde_json::json;

fn full_user() -> UserRow {
    let now = Utc::now();
    let email = |v: &str| Contact {
        value: Email::parse(v).unwrap(),
        verified_at: Some(now),
    };
    let phone = |v: &str| Contact {
        value: Phone::parse(v).unwrap(),
        verified_at: Some(now),
    };
    UserRow {
        user_id: "0198c0de7a5b7c3e8f00112233445566".into(),
        email: Some("ann.lee@example.com".into()),
        email_verified_at: Some(now),
        phone_number: Some("+12125550100".into()),
        phone_verified_at: None,
        username: Some("ann".into()),
        external_user_id: Some("crm-000123".into()),
        secondary_emails: Json(vec![email("ann@work.example"), email("a.lee@home.example")]),
        secondary_phone_numbers: Json(vec![phone("+447911123456")]),
        name: Some(Json(Name {
            title: Some("Dr".into()),
            first_name: Some("Ann".into()),
            last_name: Some("Lee".into()),
            middle_name: None,
        })),
        address: Some(Json(Address {
            country: Some("NO".into()),
            state: None,
            city: Some("Oslo".into()),
            street_address: Some("Karl Johans gate 1".into()),
            postal_code: Some("0154".into()),
            kind: Some(AddressType::Home),
            updated_at: Some(now.timestamp_millis()),
        })),
        birthday: NaiveDate::from_ymd_opt(1990, 4, 23),
        picture: Some("https://example.com/ann.png".into()),
        language: Some("en-US".into()),
        custom_data: Json(
            json!({"tier": "gold", "n": 123, "tags": ["a", "b"], "prefs": {"mail": true}})
                .as_object()
                .unwrap()
                .clone(),
        ),
        identities: Json(vec![]),
        status: "Active".into(),
        status_changed_at: Some(now),
        last_auth: Some(now),
        created_at: now,
        updated_at: now,
        password_temporary: Some(false),
        password_updated_at: Some(now),
        app_name: Some("shop".into()),
        external_account_id: Some("acct-9".into()),
        custom_app_data: Some(Json(json!({"cart": 2}).as_object().unwrap().clone())),
        group_ids: vec!["g1".into(), "g2".into()],
    }
}

fn render(c: &mut Criterion) {
    let user = full_user();
    c.bench_function("render a full ApiUser as JSON", |b| {
        b.iter(|| serde_json::to_vec(&One::of(ApiUser::from(black_box(&user)))).unwrap())
    });
}

criterion_group!(benches, render);
criterion_main!(benches);
