//! Access tokens: EdDSA JWTs with a `kid`, `typ: at+jwt`.
//!
//! Verification pins everything the token could lie about: the algorithm
//! (never the token's own `alg`), the type, the key (by `kid`, from keys we
//! published), issuer, audience, expiry and not-before, and the tenant the
//! key belongs to. Known keys are cached; an unknown `kid` triggers at most
//! one reload per `min_refresh_interval`, so random kids cannot storm the
//! database.
//!
//! A token verified once is remembered (by a SHA-256 of all of it, until
//! its `exp`): the next request with it costs a hash and a lookup, not an
//! Ed25519 verification. The key is still looked up on every use, so a
//! retired or removed key ends its tokens at once; revocations are checked
//! by the caller on every request, cached or not.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::principal::{Principal, TokenKind};

pub const TOKEN_TYPE: &str = "at+jwt";

/// How long a verifier trusts the keys it has read before re-reading them.
/// A rotated-in key is published this long before it signs, so that every
/// verifier knows it by its first token, however recently it last read.
pub const KEY_REFRESH: Duration = Duration::from_secs(300);

/// The claims idstore issues and accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub jti: String,
    /// Tenant.
    pub tid: String,
    pub app_id: String,
    pub client_id: String,
    pub roles: Vec<String>,
    /// Space-separated permissions.
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// Which of the specs' token kinds this is.
    pub kind: TokenKind,
}

/// The application client a token is issued to.
#[derive(Debug, Clone)]
pub struct ClientGrant<'a> {
    pub tenant_id: &'a str,
    pub app_id: &'a str,
    pub client_id: &'a str,
    /// A management application's client gets an admin token.
    pub is_management: bool,
    /// The client's own token lifetime (seconds), shorter than the
    /// configured one; `None` for the configured one.
    pub lifetime: Option<u64>,
}

impl Claims {
    /// The claims of a fresh client-credentials token for `audience`,
    /// valid from `now` (seconds since the epoch) for the client's lifetime,
    /// never longer than the configured one.
    pub fn for_client(
        settings: &TokenSettings,
        client: &ClientGrant<'_>,
        audience: String,
        now: i64,
    ) -> Self {
        let kind = if client.is_management {
            TokenKind::Admin
        } else {
            TokenKind::Client
        };
        let lifetime = client.lifetime.unwrap_or(settings.lifetime.as_secs());
        Self {
            iss: settings.issuer.clone(),
            sub: client.client_id.to_owned(),
            aud: audience,
            iat: now,
            exp: now + lifetime.min(settings.lifetime.as_secs()) as i64,
            nbf: None,
            jti: idstore_domain::id::new_id(),
            tid: client.tenant_id.to_owned(),
            app_id: client.app_id.to_owned(),
            client_id: client.client_id.to_owned(),
            roles: Vec::new(),
            scope: Principal::scope_for(kind, client.app_id),
            org_id: None,
            kind,
        }
    }
}

/// The user a password login signed in, and the client it signed in at.
#[derive(Debug, Clone)]
pub struct UserGrant<'a> {
    pub tenant_id: &'a str,
    pub app_id: &'a str,
    pub client_id: &'a str,
    pub user_id: &'a str,
    pub org_id: Option<&'a str>,
    pub roles: Vec<String>,
    /// Seconds; never longer than the configured token lifetime.
    pub lifetime: u64,
}

impl Claims {
    /// The claims of a UserAccessToken: `sub` is the user, and it holds no
    /// management permission (its reach is `/users/me`).
    pub fn for_user(
        settings: &TokenSettings,
        user: &UserGrant<'_>,
        audience: String,
        now: i64,
    ) -> Self {
        Self {
            iss: settings.issuer.clone(),
            sub: user.user_id.to_owned(),
            aud: audience,
            iat: now,
            exp: now + user.lifetime.min(settings.lifetime.as_secs()) as i64,
            nbf: None,
            jti: idstore_domain::id::new_id(),
            tid: user.tenant_id.to_owned(),
            app_id: user.app_id.to_owned(),
            client_id: user.client_id.to_owned(),
            roles: user.roles.clone(),
            scope: org_scope(user),
            org_id: user.org_id.map(str::to_owned),
            kind: if user.org_id.is_some() && !org_scope(user).is_empty() {
                TokenKind::OrgAdmin
            } else {
                TokenKind::User
            },
        }
    }
}

/// An organization member's `org:*` permissions: an organizationAdmin
/// role (of the signing-in application, given in the organization) makes
/// its token an OrgAdminAccessToken, an organizationCreator role one that
/// may also create organizations; none, a UserAccessToken.
fn org_scope(user: &UserGrant<'_>) -> String {
    use crate::permission::{
        ORG_ADMIN_ACTIONS, ORG_ADMIN_ROLE, ORG_CREATOR_ACTIONS, ORG_CREATOR_ROLE,
    };
    if user.org_id.is_none() {
        return String::new();
    }
    let holds = |name: &str| user.roles.iter().any(|r| r == name);
    let actions = if holds(ORG_CREATOR_ROLE) {
        ORG_CREATOR_ACTIONS
    } else if holds(ORG_ADMIN_ROLE) {
        ORG_ADMIN_ACTIONS
    } else {
        return String::new();
    };
    actions
        .iter()
        .map(|a| format!("org:{a}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What every token is checked against.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub issuer: String,
    /// This API's identifier: tokens must name it in `aud`.
    pub audience: String,
    pub lifetime: Duration,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("malformed token")]
    Malformed,
    #[error("token algorithm {0} is not accepted")]
    Algorithm(String),
    #[error("token type is not at+jwt")]
    Type,
    #[error("token signed by an unknown or retired key")]
    UnknownKey,
    #[error("token rejected: {0}")]
    Invalid(String),
    #[error("token key belongs to another tenant")]
    TenantMismatch,
    #[error("signing failed: {0}")]
    Signing(String),
}

/// Signs `claims` with a PKCS#8 Ed25519 key.
pub fn sign(claims: &Claims, kid: &str, private_pkcs8: &[u8]) -> Result<String, AuthError> {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    header.typ = Some(TOKEN_TYPE.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(private_pkcs8))
        .map_err(|e| AuthError::Signing(e.to_string()))
}

/// A public key as stored.
#[derive(Debug, Clone)]
pub struct PublicKey {
    pub kid: String,
    pub tenant_id: String,
    pub public_key: Vec<u8>,
    /// Unix time after which no token it signed can still be valid
    /// (retirement + token lifetime); `None` while it signs.
    pub usable_until: Option<i64>,
}

pub type LoadFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<PublicKey>, String>> + Send + 'a>>;

/// Where verification keys come from (the database, in production).
pub trait KeySource: Send + Sync {
    /// Every key that may still verify a token.
    fn load(&self) -> LoadFuture<'_>;
}

#[derive(Clone)]
struct CachedKey {
    tenant_id: String,
    decoding: DecodingKey,
    usable_until: Option<i64>,
}

struct Loaded {
    keys: HashMap<String, CachedKey>,
    at: Option<Instant>,
}

/// Verification keys by kid, reloaded when an unknown kid appears (at most
/// once per `min_refresh_interval`) and when older than `max_age`.
pub struct KeyCache {
    source: Arc<dyn KeySource>,
    loaded: RwLock<Loaded>,
    reload: tokio::sync::Mutex<()>,
    min_refresh_interval: Duration,
    max_age: Duration,
}

impl KeyCache {
    pub fn new(
        source: Arc<dyn KeySource>,
        min_refresh_interval: Duration,
        max_age: Duration,
    ) -> Self {
        Self {
            source,
            loaded: RwLock::new(Loaded {
                keys: HashMap::new(),
                at: None,
            }),
            reload: tokio::sync::Mutex::new(()),
            min_refresh_interval,
            max_age,
        }
    }

    fn lookup(&self, kid: &str) -> (Option<CachedKey>, Option<Instant>) {
        let loaded = self.loaded.read().expect("key cache poisoned");
        (loaded.keys.get(kid).cloned(), loaded.at)
    }

    async fn get(&self, kid: &str) -> Option<CachedKey> {
        let (found, at) = self.lookup(kid);
        let age = at.map(|t| t.elapsed());
        let needs_reload = match (&found, age) {
            (_, None) => true,
            (Some(_), Some(age)) => age > self.max_age,
            (None, Some(age)) => age >= self.min_refresh_interval,
        };
        if !needs_reload {
            return found;
        }
        self.reload(at).await;
        self.lookup(kid).0
    }

    /// Reloads unless another caller did since `seen`.
    async fn reload(&self, seen: Option<Instant>) {
        let _one_at_a_time = self.reload.lock().await;
        if self.loaded.read().expect("key cache poisoned").at != seen {
            return;
        }
        match self.source.load().await {
            Ok(keys) => {
                let keys = keys
                    .into_iter()
                    .map(|k| {
                        let cached = CachedKey {
                            tenant_id: k.tenant_id,
                            decoding: DecodingKey::from_ed_der(&k.public_key),
                            usable_until: k.usable_until,
                        };
                        (k.kid, cached)
                    })
                    .collect();
                *self.loaded.write().expect("key cache poisoned") = Loaded {
                    keys,
                    at: Some(Instant::now()),
                };
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not reload token verification keys");
                // Count the failed attempt too, so a broken database is not hammered.
                self.loaded.write().expect("key cache poisoned").at = Some(Instant::now());
            }
        }
    }
}

/// How many verified tokens a verifier remembers: about 400 bytes each, so
/// a few megabytes at most. Beyond it, expired ones are dropped first, and
/// if none is, all are (the next uses verify again).
pub const VERIFIED_CAPACITY: usize = 10_000;

/// A token verified before: what it proved, until when, under which key.
#[derive(Clone)]
struct Verified {
    principal: Principal,
    exp: i64,
    kid: String,
}

#[derive(Default)]
struct VerifiedTokens {
    entries: RwLock<HashMap<[u8; 32], Verified>>,
    /// Full verifications done (signature and claims): what the cache saves.
    full: std::sync::atomic::AtomicU64,
}

impl VerifiedTokens {
    fn digest(token: &str) -> [u8; 32] {
        use sha2::Digest as _;
        sha2::Sha256::digest(token.as_bytes()).into()
    }

    fn get(&self, digest: &[u8; 32]) -> Option<Verified> {
        self.entries
            .read()
            .expect("token cache poisoned")
            .get(digest)
            .cloned()
    }

    fn insert(&self, digest: [u8; 32], verified: Verified, now: i64, leeway: i64) {
        let mut entries = self.entries.write().expect("token cache poisoned");
        if entries.len() >= VERIFIED_CAPACITY {
            entries.retain(|_, v| now <= v.exp + leeway);
            if entries.len() >= VERIFIED_CAPACITY {
                entries.clear();
            }
        }
        entries.insert(digest, verified);
    }

    fn forget(&self, digest: &[u8; 32]) {
        self.entries
            .write()
            .expect("token cache poisoned")
            .remove(digest);
    }
}

pub struct Verifier {
    settings: TokenSettings,
    keys: KeyCache,
    verified: VerifiedTokens,
}

impl Verifier {
    pub fn new(settings: TokenSettings, keys: KeyCache) -> Self {
        Self {
            settings,
            keys,
            verified: VerifiedTokens::default(),
        }
    }

    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    /// Signature and claim checks done since start (tokens seen before are
    /// not checked again): for tests and benchmarks.
    pub fn full_verifications(&self) -> u64 {
        self.verified
            .full
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Remembered tokens, expired ones included until they are dropped.
    pub fn remembered(&self) -> usize {
        self.verified
            .entries
            .read()
            .expect("token cache poisoned")
            .len()
    }

    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let digest = VerifiedTokens::digest(token);
        let Some(seen) = self.verified.get(&digest) else {
            return self.verify_fully(token, digest).await;
        };
        let now = jsonwebtoken::get_current_timestamp() as i64;
        let leeway = self.settings.leeway as i64;
        if now > seen.exp + leeway {
            self.verified.forget(&digest);
            return Err(AuthError::Invalid("ExpiredSignature".into()));
        }
        let key = self
            .keys
            .get(&seen.kid)
            .await
            .ok_or(AuthError::UnknownKey)?;
        if key.usable_until.is_some_and(|until| now > until + leeway)
            || key.tenant_id != seen.principal.tenant_id
        {
            return Err(AuthError::UnknownKey);
        }
        Ok(seen.principal)
    }

    async fn verify_fully(&self, token: &str, digest: [u8; 32]) -> Result<Principal, AuthError> {
        self.verified
            .full
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(AuthError::Algorithm(format!("{:?}", header.alg)));
        }
        if !header
            .typ
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(TOKEN_TYPE))
        {
            return Err(AuthError::Type);
        }
        let kid = header.kid.ok_or(AuthError::UnknownKey)?;
        let key = self.keys.get(&kid).await.ok_or(AuthError::UnknownKey)?;
        let now = jsonwebtoken::get_current_timestamp() as i64;
        if key
            .usable_until
            .is_some_and(|until| now > until + self.settings.leeway as i64)
        {
            return Err(AuthError::UnknownKey);
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &self.validation())
            .map_err(|e| AuthError::Invalid(e.to_string()))?
            .claims;
        if claims.tid != key.tenant_id {
            return Err(AuthError::TenantMismatch);
        }
        let exp = claims.exp;
        let principal = Principal::from_claims(claims);
        let verified = Verified {
            principal: principal.clone(),
            exp,
            kid,
        };
        self.verified
            .insert(digest, verified, now, self.settings.leeway as i64);
        Ok(principal)
    }

    fn validation(&self) -> Validation {
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_issuer(&[&self.settings.issuer]);
        v.set_audience(&[&self.settings.audience]);
        v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        v.leeway = self.settings.leeway;
        v.validate_nbf = true;
        v
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;
    use crate::keys::KeyPair;

    struct Counting {
        keys: Vec<PublicKey>,
        loads: AtomicUsize,
    }

    impl KeySource for Counting {
        fn load(&self) -> LoadFuture<'_> {
            self.loads.fetch_add(1, Ordering::SeqCst);
            let keys = self.keys.clone();
            Box::pin(async move { Ok(keys) })
        }
    }

    const ISS: &str = "https://idstore.test";

    /// A change to a token's claims.
    type Mutation = Box<dyn Fn(&mut Claims)>;

    fn settings() -> TokenSettings {
        TokenSettings {
            issuer: ISS.into(),
            audience: ISS.into(),
            lifetime: Duration::from_secs(3600),
            leeway: 30,
        }
    }

    fn claims(tid: &str) -> Claims {
        let now = jsonwebtoken::get_current_timestamp() as i64;
        Claims {
            iss: ISS.into(),
            sub: "c1".into(),
            aud: ISS.into(),
            iat: now,
            exp: now + 3600,
            nbf: None,
            jti: "j1".into(),
            tid: tid.into(),
            app_id: "a1".into(),
            client_id: "c1".into(),
            roles: vec![],
            scope: Principal::scope_for(TokenKind::Admin, "a1"),
            org_id: None,
            kind: TokenKind::Admin,
        }
    }

    fn setup(usable_until: Option<i64>) -> (KeyPair, Arc<Counting>, Verifier) {
        setup_with(usable_until, settings())
    }

    fn setup_with(
        usable_until: Option<i64>,
        settings: TokenSettings,
    ) -> (KeyPair, Arc<Counting>, Verifier) {
        let pair = KeyPair::generate().unwrap();
        let source = Arc::new(Counting {
            keys: vec![PublicKey {
                kid: pair.kid.clone(),
                tenant_id: "t1".into(),
                public_key: pair.public_key.to_vec(),
                usable_until,
            }],
            loads: AtomicUsize::new(0),
        });
        let cache = KeyCache::new(
            source.clone(),
            Duration::from_secs(60),
            Duration::from_secs(600),
        );
        (pair, source, Verifier::new(settings, cache))
    }

    fn b64(v: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[tokio::test]
    async fn a_token_we_signed_verifies_into_its_principal() {
        let (pair, _, verifier) = setup(None);
        let token = sign(&claims("t1"), &pair.kid, &pair.private_pkcs8).unwrap();
        let p = verifier.verify(&token).await.unwrap();
        assert_eq!(
            (p.kind, p.tenant_id.as_str(), p.client_id.as_str()),
            (TokenKind::Admin, "t1", "c1")
        );
        assert!(p.has("users:list"));
    }

    #[tokio::test]
    async fn alg_none_is_refused() {
        let (pair, _, verifier) = setup(None);
        let header = serde_json::json!({"alg": "none", "typ": "at+jwt", "kid": pair.kid});
        let token = format!(
            "{}.{}.",
            b64(&header),
            b64(&serde_json::to_value(claims("t1")).unwrap())
        );
        assert!(verifier.verify(&token).await.is_err());
    }

    #[tokio::test]
    async fn hs256_signed_with_the_public_key_is_refused() {
        let (pair, _, verifier) = setup(None);
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(pair.kid.clone());
        header.typ = Some(TOKEN_TYPE.into());
        let forged = jsonwebtoken::encode(
            &header,
            &claims("t1"),
            &EncodingKey::from_secret(&pair.public_key),
        )
        .unwrap();
        assert_eq!(
            verifier.verify(&forged).await.unwrap_err(),
            AuthError::Algorithm("HS256".into())
        );
    }

    #[tokio::test]
    async fn a_tampered_payload_is_refused() {
        let (pair, _, verifier) = setup(None);
        let token = sign(&claims("t1"), &pair.kid, &pair.private_pkcs8).unwrap();
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut c = claims("t1");
        c.kind = TokenKind::Admin;
        c.tid = "t2".into();
        parts[1] = b64(&serde_json::to_value(c).unwrap());
        assert!(matches!(
            verifier.verify(&parts.join(".")).await,
            Err(AuthError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn wrong_issuer_audience_type_expiry_and_nbf_are_refused() {
        let (pair, _, verifier) = setup(None);
        let now = jsonwebtoken::get_current_timestamp() as i64;
        let cases: Vec<(&str, Mutation)> = vec![
            ("issuer", Box::new(|c| c.iss = "https://evil.test".into())),
            (
                "audience",
                Box::new(|c| c.aud = "https://other-api.test".into()),
            ),
            ("expired", Box::new(move |c| c.exp = now - 120)),
            ("nbf", Box::new(move |c| c.nbf = Some(now + 600))),
        ];
        for (what, mutate) in cases {
            let mut c = claims("t1");
            mutate(&mut c);
            let token = sign(&c, &pair.kid, &pair.private_pkcs8).unwrap();
            assert!(
                matches!(verifier.verify(&token).await, Err(AuthError::Invalid(_))),
                "{what} accepted"
            );
        }
        let mut c = claims("t1");
        c.exp = now - 10; // within the leeway
        let token = sign(&c, &pair.kid, &pair.private_pkcs8).unwrap();
        assert!(
            verifier.verify(&token).await.is_ok(),
            "small clock skew tolerated"
        );

        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(pair.kid.clone());
        header.typ = Some("JWT".into());
        let id_token_like = jsonwebtoken::encode(
            &header,
            &claims("t1"),
            &EncodingKey::from_ed_der(&pair.private_pkcs8),
        )
        .unwrap();
        assert_eq!(
            verifier.verify(&id_token_like).await.unwrap_err(),
            AuthError::Type
        );
    }

    #[tokio::test]
    async fn a_key_of_another_tenant_cannot_vouch_for_this_one() {
        let (pair, _, verifier) = setup(None);
        let token = sign(&claims("t2"), &pair.kid, &pair.private_pkcs8).unwrap();
        assert_eq!(
            verifier.verify(&token).await.unwrap_err(),
            AuthError::TenantMismatch
        );
    }

    #[tokio::test]
    async fn unknown_and_retired_keys_are_refused() {
        let (pair, _, verifier) = setup(None);
        let stranger = KeyPair::generate().unwrap();
        let token = sign(&claims("t1"), &stranger.kid, &stranger.private_pkcs8).unwrap();
        assert_eq!(
            verifier.verify(&token).await.unwrap_err(),
            AuthError::UnknownKey
        );
        // Our kid, someone else's key: the signature fails.
        let token = sign(&claims("t1"), &pair.kid, &stranger.private_pkcs8).unwrap();
        assert!(matches!(
            verifier.verify(&token).await,
            Err(AuthError::Invalid(_))
        ));

        let long_ago = jsonwebtoken::get_current_timestamp() as i64 - 7200;
        let (old, _, verifier) = setup(Some(long_ago));
        let token = sign(&claims("t1"), &old.kid, &old.private_pkcs8).unwrap();
        assert_eq!(
            verifier.verify(&token).await.unwrap_err(),
            AuthError::UnknownKey
        );
    }

    #[tokio::test]
    async fn a_storm_of_random_kids_reloads_the_keys_at_most_once_per_interval() {
        let (pair, source, verifier) = setup(None);
        let good = sign(&claims("t1"), &pair.kid, &pair.private_pkcs8).unwrap();
        verifier.verify(&good).await.unwrap();
        assert_eq!(source.loads.load(Ordering::SeqCst), 1);
        for i in 0..1000 {
            let mut header = Header::new(Algorithm::EdDSA);
            header.kid = Some(format!("random-{i}"));
            header.typ = Some(TOKEN_TYPE.into());
            let token = jsonwebtoken::encode(
                &header,
                &claims("t1"),
                &EncodingKey::from_ed_der(&pair.private_pkcs8),
            )
            .unwrap();
            assert_eq!(
                verifier.verify(&token).await.unwrap_err(),
                AuthError::UnknownKey
            );
        }
        assert_eq!(
            source.loads.load(Ordering::SeqCst),
            1,
            "random kids must not reach the key source"
        );
        verifier.verify(&good).await.unwrap();
    }

    /// A key source whose keys the test changes.
    struct Changing(std::sync::Mutex<Vec<PublicKey>>);

    impl KeySource for Changing {
        fn load(&self) -> LoadFuture<'_> {
            let keys = self.0.lock().unwrap().clone();
            Box::pin(async move { Ok(keys) })
        }
    }

    #[tokio::test]
    async fn a_token_seen_before_is_not_verified_again_but_a_tampered_copy_is() {
        let (pair, _, verifier) = setup(None);
        let token = sign(&claims("t1"), &pair.kid, &pair.private_pkcs8).unwrap();
        let first = verifier.verify(&token).await.unwrap();
        let again = verifier.verify(&token).await.unwrap();
        assert_eq!(verifier.full_verifications(), 1);
        assert!(again.has("users:list"));
        assert_eq!(
            (again.subject, again.tenant_id, again.issued_at),
            (first.subject, first.tenant_id, first.issued_at)
        );
        // Same header and claims, another signature: not the token seen.
        let (head, signature) = token.rsplit_once('.').unwrap();
        let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
        let forged = format!("{head}.{flipped}{}", &signature[1..]);
        assert!(verifier.verify(&forged).await.is_err());
        assert_eq!(verifier.full_verifications(), 2);
        assert!(verifier.verify(&token).await.is_ok());
    }

    #[tokio::test]
    async fn a_remembered_token_ends_at_its_expiry() {
        let (pair, _, verifier) = setup_with(
            None,
            TokenSettings {
                leeway: 0,
                ..settings()
            },
        );
        let mut c = claims("t1");
        c.exp = jsonwebtoken::get_current_timestamp() as i64 + 1;
        let token = sign(&c, &pair.kid, &pair.private_pkcs8).unwrap();
        verifier.verify(&token).await.unwrap();
        assert_eq!(verifier.remembered(), 1);
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert!(matches!(
            verifier.verify(&token).await,
            Err(AuthError::Invalid(_))
        ));
        assert_eq!(
            verifier.remembered(),
            0,
            "an expired token stays remembered"
        );
        assert_eq!(verifier.full_verifications(), 1);
    }

    #[tokio::test]
    async fn a_remembered_token_ends_when_its_key_is_retired_or_removed() {
        let pair = KeyPair::generate().unwrap();
        let key = PublicKey {
            kid: pair.kid.clone(),
            tenant_id: "t1".into(),
            public_key: pair.public_key.to_vec(),
            usable_until: None,
        };
        let source = Arc::new(Changing(std::sync::Mutex::new(vec![key.clone()])));
        // Keys re-read on every use: the change is seen at once.
        let cache = KeyCache::new(source.clone(), Duration::ZERO, Duration::ZERO);
        let verifier = Verifier::new(settings(), cache);
        let token = sign(&claims("t1"), &pair.kid, &pair.private_pkcs8).unwrap();
        verifier.verify(&token).await.unwrap();
        verifier.verify(&token).await.unwrap();
        assert_eq!(verifier.full_verifications(), 1);

        let long_ago = jsonwebtoken::get_current_timestamp() as i64 - 7200;
        *source.0.lock().unwrap() = vec![PublicKey {
            usable_until: Some(long_ago),
            ..key.clone()
        }];
        assert_eq!(
            verifier.verify(&token).await.unwrap_err(),
            AuthError::UnknownKey
        );
        source.0.lock().unwrap().clear();
        assert_eq!(
            verifier.verify(&token).await.unwrap_err(),
            AuthError::UnknownKey
        );
        assert_eq!(verifier.full_verifications(), 1, "the cached path decided");
        *source.0.lock().unwrap() = vec![key];
        assert!(verifier.verify(&token).await.is_ok());
    }

    #[test]
    fn the_remembered_tokens_are_bounded_expired_ones_going_first() {
        let cache = VerifiedTokens::default();
        let now = jsonwebtoken::get_current_timestamp() as i64;
        let entry = |exp: i64| Verified {
            principal: Principal::from_claims(claims("t1")),
            exp,
            kid: "k".into(),
        };
        let digest = |i: usize| VerifiedTokens::digest(&format!("token-{i}"));
        for i in 0..VERIFIED_CAPACITY {
            let exp = if i % 2 == 0 { now - 100 } else { now + 100 };
            cache.insert(digest(i), entry(exp), now, 0);
        }
        let len = || cache.entries.read().unwrap().len();
        assert_eq!(len(), VERIFIED_CAPACITY);
        cache.insert(digest(VERIFIED_CAPACITY), entry(now + 100), now, 0);
        assert_eq!(len(), VERIFIED_CAPACITY / 2 + 1, "the expired half went");
        assert!(cache.get(&digest(1)).is_some(), "a live token was dropped");
        for i in VERIFIED_CAPACITY + 1..2 * VERIFIED_CAPACITY {
            cache.insert(digest(i), entry(now + 100), now, 0);
        }
        assert!(len() <= VERIFIED_CAPACITY);
        assert!(cache.get(&digest(2 * VERIFIED_CAPACITY - 1)).is_some());
    }
}
