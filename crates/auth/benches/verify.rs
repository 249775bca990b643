//! How long verifying an access token takes (the per-request cost of
//! authentication). Not a test: run `cargo bench -p idstore-auth --bench verify`.

use std::sync::Arc;
use std::time::{Duration, Instant};

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

fn main() {
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
    let source = Arc::new(Fixed(vec![PublicKey {
        kid: pair.kid.clone(),
        tenant_id: "tenant".into(),
        public_key: pair.public_key.to_vec(),
        usable_until: None,
    }]));
    let verifier = Verifier::new(
        TokenSettings {
            issuer: issuer.clone(),
            audience: issuer,
            lifetime: Duration::from_secs(3600),
            leeway: 30,
        },
        KeyCache::new(source, Duration::from_secs(1), Duration::from_secs(3600)),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        verifier.verify(&token).await.unwrap(); // warm the key cache
        let mut rounds = Vec::new();
        for _ in 0..7 {
            let n = 5_000;
            let started = Instant::now();
            for _ in 0..n {
                std::hint::black_box(verifier.verify(std::hint::black_box(&token)).await.unwrap());
            }
            rounds.push(started.elapsed().as_secs_f64() * 1e6 / n as f64);
        }
        rounds.sort_by(f64::total_cmp);
        println!(
            "token verification: median {:.1} µs/op (min {:.1}, max {:.1}; 7 rounds of 5000; token {} bytes)",
            rounds[3],
            rounds[0],
            rounds[6],
            token.len()
        );
    });
}
