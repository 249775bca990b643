//! Bearer tokens in, principals out: the permission a handler needs is
//! part of its signature (`Authorized<UsersList>`), so without a grant its
//! body never runs.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use idstore_auth::keys::Kek;
use idstore_auth::principal::Reach;
use idstore_auth::secret::HashPool;
use idstore_auth::token::{LoadFuture, PublicKey};
use idstore_auth::{KeyCache, KeySource, Policy, Principal, TokenSettings, Verifier};
use idstore_store::PgPool;

use crate::{ApiError, AppState};

/// How client authentication is throttled.
#[derive(Debug, Clone, Copy)]
pub struct Throttle {
    /// Attempts (failures and those in flight) allowed per window.
    pub max_attempts: i32,
    pub window: Duration,
}

impl Default for Throttle {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            window: Duration::from_secs(300),
        }
    }
}

/// Everything token issuance and verification need.
pub struct AuthContext {
    pub verifier: Verifier,
    pub kek: Kek,
    pub hashes: HashPool,
    pub throttle: Throttle,
}

impl AuthContext {
    pub fn new(pool: PgPool, settings: TokenSettings, kek: Kek, throttle: Throttle) -> Arc<Self> {
        let source = Arc::new(StoredKeys {
            pool,
            lifetime_secs: settings.lifetime.as_secs() as i64,
        });
        // An unknown kid may reload the keys once a second; known keys are
        // re-read every five minutes to learn of rotations elsewhere.
        let cache = KeyCache::new(source, Duration::from_secs(1), Duration::from_secs(300));
        Arc::new(Self {
            verifier: Verifier::new(settings, cache),
            kek,
            hashes: HashPool::sized_to_cpus(),
            throttle,
        })
    }

    pub fn settings(&self) -> &TokenSettings {
        self.verifier.settings()
    }
}

/// Verification keys from the database.
struct StoredKeys {
    pool: PgPool,
    lifetime_secs: i64,
}

impl KeySource for StoredKeys {
    fn load(&self) -> LoadFuture<'_> {
        Box::pin(async move {
            let keys = idstore_store::signing_keys::published(&self.pool, self.lifetime_secs)
                .await
                .map_err(|e| e.to_string())?;
            Ok(keys
                .into_iter()
                .map(|k| PublicKey {
                    kid: k.kid,
                    tenant_id: k.tenant_id,
                    public_key: k.public_key,
                    usable_until: k.retired_at.map(|t| t.timestamp() + self.lifetime_secs),
                })
                .collect())
        })
    }
}

/// A caller holding policy `P`'s permission.
pub struct Authorized<P: Policy> {
    pub principal: Principal,
    /// Whether the grant reaches the tenant or only the caller's app.
    pub reach: Reach,
    policy: PhantomData<P>,
}

impl<P: Policy> Authorized<P> {
    pub fn tenant_id(&self) -> &str {
        &self.principal.tenant_id
    }
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

impl<P: Policy> FromRequest for Authorized<P> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            let token = token
                .ok_or_else(|| ApiError::Unauthorized("Missing bearer access token".into()))?;
            let principal = state.auth.verifier.verify(&token).await.map_err(|e| {
                tracing::info!(reason = %e, "access token refused");
                ApiError::Unauthorized("Invalid or expired access token".into())
            })?;
            let reach = principal.authorize::<P>().ok_or_else(|| {
                tracing::info!(policy = P::NAME, kind = ?principal.kind, "permission refused");
                ApiError::Forbidden(format!(
                    "This access token lacks the permission this operation requires ({})",
                    P::NAME
                ))
            })?;
            Ok(Self {
                principal,
                reach,
                policy: PhantomData,
            })
        })
    }
}
