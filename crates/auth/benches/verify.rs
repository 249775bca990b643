//! How long verifying an access token takes (the per-request cost of
//! authentication): the first time a verifier sees it (signature and
//! claims checked; target under 50 µs) and every later time (remembered).
//! Not a test: run `cargo bench -p idstore-auth --bench verify`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

use idstore_auth::keys::KeyPair;
use idstore_auth::principal::TokenKind;
use idstore_auth::token::{LoadFuture, PublicKey, sign};
use idstore_auth::{Claims, KeyCache, KeySource, Principal, TokenSettings, Verifier};

struct Fixed(Vec<PublicKey>);

impl KeySource for Fixed {
    fn load(&self) -> LoadFuture<'_> {
        let keys = self.0.clone();
        Box::pin(async move { Ok(keys) })
    }
}

fn verify(c: &mut Criterion) {
    let pair = KeyPair::generate().unwrap();
    let issuer = "https://id.example.com".to_owned();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = Claims {
        iss: issuer.clone(),
        sub: "client".into(),
        aud: issuer.clone(),
        iat: now,
        exp: now + 3600,
        nbf: None,
        jti: "0198c0de".into(),
        tid: "tenant".into(),
        app_id: "app".into(),
        client_id: "client".into(),
        roles: vec![],
        scope: Principal::scope_for(TokenKind::Admin, "app"),
        org_id: None,
        kind: TokenKind::Admin,
    };
    let token = sign(&claims, &pair.kid, &pair.private_pkcs8).unwrap();
    let other = sign(
        &Claims {
            jti: "another".into(),
            ..claims.clone()
        },
        &pair.kid,
        &pair.private_pkcs8,
    )
    .unwrap();
    let source = Arc::new(Fixed(vec![PublicKey {
        kid: pair.kid.clone(),
        tenant_id: "tenant".into(),
        public_key: pair.public_key.to_vec(),
        usable_until: None,
    }]));
    let new_verifier = || {
        Verifier::new(
            TokenSettings {
                issuer: issuer.clone(),
                audience: issuer.clone(),
                lifetime: Duration::from_secs(3600),
                leeway: 30,
            },
            KeyCache::new(
                source.clone(),
                Duration::from_secs(1),
                Duration::from_secs(3600),
            ),
        )
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    c.bench_function(
        "token verification, first sight (EdDSA, admin scope)",
        |b| {
            b.iter_batched(
                || {
                    // Keys read (with another token), this one never seen.
                    let verifier = new_verifier();
                    rt.block_on(verifier.verify(&other)).unwrap();
                    verifier
                },
                |verifier| rt.block_on(verifier.verify(black_box(&token))).unwrap(),
                BatchSize::SmallInput,
            )
        },
    );
    let verifier = new_verifier();
    rt.block_on(verifier.verify(&token)).unwrap();
    c.bench_function("token verification, seen before", |b| {
        b.iter(|| rt.block_on(verifier.verify(black_box(&token))).unwrap())
    });
}

criterion_group!(benches, verify);
criterion_main!(benches);
