//! Bearer tokens in, principals out: the permission a handler needs is
//! part of its signature (`Authorized<UsersList>`), so without a grant its
//! body never runs.

use std::cell::Cell;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use idstore_auth::keys::Kek;
use idstore_auth::principal::TokenKind;
use idstore_auth::secret::{self, HashPool};
use idstore_auth::token::{self, LoadFuture, PublicKey};
use idstore_auth::{
    Claims, ClientGrant, KEY_REFRESH, KeyCache, KeySource, Policy, Principal, TokenSettings,
    UserGrant, Verifier,
};
use idstore_domain::scope::Scope;
use idstore_store::audit::{self, Actor};
use idstore_store::auth_throttle::{self, Reserved};
use idstore_store::clients::{self, KnownClient};
use idstore_store::{PgPool, StoreError, signing_keys};
use idstore_store::{idempotency, revocations};
use secrecy::SecretString;

use crate::limits::TokenRate;
use crate::middleware::RequestId;
use crate::revocation::Revocations;
use crate::{ApiError, AppState};

/// How client authentication is throttled, per (client_id, source).
pub use idstore_store::auth_throttle::ThrottlePolicy as Throttle;

/// Everything token issuance and verification need.
pub struct AuthContext {
    pub verifier: Verifier,
    pub kek: Kek,
    pub hashes: HashPool,
    pub throttle: Throttle,
    pub revocations: Revocations,
    /// How many refusals per second are recorded in the audit trail.
    denials: TokenRate,
    pool: PgPool,
    unsealing: Unsealing,
}

/// What this process has seen of its KEK opening signing keys. A replica
/// whose KEK opens none of them (another replica's database, a made-up or
/// mistyped key) can sign no token and should get no traffic. One that
/// opens some is kept: the others' keys were sealed elsewhere, every
/// replica with the same KEK would fail on them alike, and taking them all
/// out would cost every tenant its service for a few tenants' keys.
#[derive(Debug, Default)]
struct Unsealing {
    opened: AtomicBool,
    refused: AtomicBool,
}

impl Unsealing {
    fn record(&self, opened: bool) {
        let flag = if opened { &self.opened } else { &self.refused };
        flag.store(true, Ordering::Relaxed);
    }

    fn opens_none(&self) -> bool {
        self.refused.load(Ordering::Relaxed) && !self.opened.load(Ordering::Relaxed)
    }
}

/// Why a replica whose KEK opens no signing key is not ready, for the log.
pub const KEK_OPENS_NONE: &str = "the key-encryption key opens none of the signing keys it \
    tried: it is not the key that sealed them. Give this replica the `key_encryption_key` the \
    others use";

/// Refusals recorded per second, per principal and in all, per process
/// (bursts of twice that). A token holder can ask for refusals as fast as
/// it likes; each one recorded is a row and a round trip, so past these
/// rates only the log line is kept. Enough to see who probes what.
const DENIALS_RECORDED_PER_PRINCIPAL: u32 = 2;
const DENIALS_RECORDED: u32 = 50;

/// Why a client could not authenticate.
#[derive(Debug, thiserror::Error)]
pub enum ClientAuthError {
    #[error("client authentication failed")]
    Refused,
    /// Too many failures from this source: it must wait.
    #[error("throttled, retry after {retry_after} s")]
    Throttled { retry_after: i64 },
    /// The hash pool is saturated; nothing was checked or counted as failed.
    #[error(transparent)]
    Busy(#[from] secret::HashBusy),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An issued access token.
pub struct IssuedToken {
    pub access_token: String,
    pub claims: Claims,
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// This process's KEK is not the one that sealed the tenant's key.
    #[error("the key-encryption key cannot open signing key {kid} of tenant {tenant_id}")]
    Unsealable { tenant_id: String, kid: String },
    #[error("signing key: {0}")]
    Key(String),
}

impl AuthContext {
    pub fn new(
        pool: PgPool,
        settings: TokenSettings,
        kek: Kek,
        throttle: Throttle,
        hashes: HashPool,
    ) -> Arc<Self> {
        let source = Arc::new(StoredKeys::new(pool.clone(), settings.lifetime));
        // An unknown kid may reload the keys once a second; known keys are
        // re-read every KEY_REFRESH to learn of rotations elsewhere, which is
        // how long a rotated-in key is published before it signs.
        let cache = KeyCache::new(source, Duration::from_secs(1), KEY_REFRESH);
        Arc::new(Self {
            verifier: Verifier::new(settings, cache),
            kek,
            hashes,
            throttle,
            revocations: Revocations::default(),
            denials: TokenRate::new(DENIALS_RECORDED_PER_PRINCIPAL, DENIALS_RECORDED),
            pool,
            unsealing: Unsealing::default(),
        })
    }

    /// Tries the KEK on every key that signs or will sign, logging those it
    /// cannot open; afterwards [`AuthContext::kek_opens_none`] says whether
    /// it opened none. Opening is a decryption of a few dozen bytes per
    /// tenant, done once at start-up rather than by each readiness probe.
    pub async fn check_signing_keys(&self) -> Result<(), StoreError> {
        let keys = signing_keys::signing(&self.pool).await?;
        let mut refused = 0;
        for key in &keys {
            let opened = self.kek.open(&key.kid, &key.private_key_sealed).is_ok();
            self.unsealing.record(opened);
            if !opened {
                refused += 1;
                tracing::error!(tenant_id = %key.tenant_id, kid = %key.kid, "the key-encryption key cannot open this signing key: tokens of its tenant cannot be signed");
            }
        }
        if self.kek_opens_none() {
            tracing::error!(keys = keys.len(), "{KEK_OPENS_NONE}; not ready");
        } else if refused > 0 {
            tracing::error!(
                refused,
                keys = keys.len(),
                "some signing keys were sealed under another key-encryption key"
            );
        }
        Ok(())
    }

    /// Whether this process's KEK has failed on signing keys and opened none.
    pub fn kek_opens_none(&self) -> bool {
        self.unsealing.opens_none()
    }

    /// Records in the audit trail that `principal` was refused `policy`, at
    /// most at the rates above. Best effort: the refusal is answered as one
    /// whether or not this could be written.
    async fn record_denial(&self, principal: &Principal, req: &HttpRequest, policy: &str) {
        let key = format!("{}/{}", principal.tenant_id, principal.subject);
        if self.denials.admit(&key).is_err() {
            tracing::debug!(policy, "refusal not recorded: over the recording rate");
            return;
        }
        let actor = actor_of(principal, req);
        audit::record_denial(&self.pool, &principal.tenant_id, &actor, policy).await;
    }

    pub fn settings(&self) -> &TokenSettings {
        self.verifier.settings()
    }

    /// How long a token can be accepted after it was issued: revocations
    /// older than this refuse nothing.
    fn horizon(&self) -> i64 {
        let s = self.settings();
        (s.lifetime.as_secs() + s.leeway) as i64
    }

    /// Reads the revocations recorded since the last refresh; the server
    /// calls it every second, and a handler that revoked tokens calls it at
    /// once so that this replica refuses them immediately.
    pub async fn refresh_revocations(&self) {
        if let Err(e) = self.revocations.refresh(&self.pool, self.horizon()).await {
            tracing::warn!(error = %e, "could not refresh the token revocation list");
        }
    }

    /// Forgets revocations that can no longer refuse anything, and
    /// authentication streaks that ended long ago.
    pub async fn purge_expired(&self) {
        let purged = futures_util::future::try_join4(
            revocations::purge(&self.pool, self.horizon()),
            auth_throttle::purge(&self.pool, self.throttle),
            idempotency::purge(&self.pool),
            idstore_store::login::purge(&self.pool),
        )
        .await;
        match purged {
            Ok((revoked, streaks, keys, tickets)) => {
                tracing::debug!(
                    revoked,
                    streaks,
                    keys,
                    tickets,
                    "expired revocations, streaks and keys purged"
                )
            }
            Err(e) => tracing::warn!(error = %e, "could not purge expired revocations or streaks"),
        }
    }

    /// Checks a client's secret within its source's attempt budget.
    /// Known and unknown client ids take the same steps (a throttle
    /// reservation, a lookup, one hash verification), so neither the
    /// answers nor their timing tell which ids exist.
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        source: &str,
        candidate: SecretString,
    ) -> Result<KnownClient, ClientAuthError> {
        use secrecy::ExposeSecret;
        if !idstore_domain::id::is_valid_id(client_id) || candidate.expose_secret().len() > 512 {
            return Err(ClientAuthError::Refused);
        }
        match auth_throttle::reserve(&self.pool, client_id, source, self.throttle).await? {
            Reserved::Go => {}
            Reserved::Wait { retry_after } => {
                tracing::warn!(client_id, source, "client authentication throttled");
                return Err(ClientAuthError::Throttled { retry_after });
            }
        }
        let known = clients::for_authentication(&self.pool, client_id).await?;
        let phc = known.as_ref().map_or_else(
            || secret::dummy_hash().to_owned(),
            |c| c.secret_hash.clone(),
        );
        let matched = match self.hashes.verify(phc, candidate).await {
            Ok(matched) => matched,
            Err(busy) => {
                // Nothing was checked: the attempt is given back, so a
                // burst from others cannot use up this source's budget.
                auth_throttle::unchecked(&self.pool, client_id, source, self.throttle).await?;
                return Err(busy.into());
            }
        };
        match known {
            Some(client) if matched => {
                auth_throttle::succeeded(&self.pool, client_id, source).await?;
                Ok(client)
            }
            _ => {
                tracing::info!(client_id, source, "client authentication failed");
                Err(ClientAuthError::Refused)
            }
        }
    }

    /// Signs a client-credentials token for `client` with its tenant's
    /// active key.
    pub async fn issue_client_token(
        &self,
        client_id: &str,
        client: &KnownClient,
        audience: String,
    ) -> Result<IssuedToken, IssueError> {
        let grant = ClientGrant {
            tenant_id: &client.tenant_id,
            app_id: &client.app_id,
            client_id,
            is_management: client.is_management,
            lifetime: client.access_token_ttl.map(|s| s as u64),
        };
        let now = chrono::Utc::now().timestamp();
        let claims = Claims::for_client(self.settings(), &grant, audience, now);
        self.sign(claims).await
    }

    /// Signs a UserAccessToken for the user a login signed in.
    pub async fn issue_user_token(&self, user: &UserGrant<'_>) -> Result<IssuedToken, IssueError> {
        let now = chrono::Utc::now().timestamp();
        let audience = self.settings().audience.clone();
        let claims = Claims::for_user(self.settings(), user, audience, now);
        self.sign(claims).await
    }

    /// Signs `claims` with the active key of their tenant.
    async fn sign(&self, claims: Claims) -> Result<IssuedToken, IssueError> {
        let key = signing_keys::active(&self.pool, &claims.tid).await?;
        let opened = self.kek.open(&key.kid, &key.private_key_sealed);
        self.unsealing.record(opened.is_ok());
        let private = opened.map_err(|_| IssueError::Unsealable {
            tenant_id: key.tenant_id,
            kid: key.kid.clone(),
        })?;
        let access_token =
            token::sign(&claims, &key.kid, &private).map_err(|e| IssueError::Key(e.to_string()))?;
        Ok(IssuedToken {
            access_token,
            claims,
        })
    }
}

/// Verification keys from the database.
pub struct StoredKeys {
    pool: PgPool,
    lifetime_secs: i64,
}

impl StoredKeys {
    /// The keys published for tokens of `lifetime`.
    pub fn new(pool: PgPool, lifetime: Duration) -> Self {
        Self {
            pool,
            lifetime_secs: lifetime.as_secs() as i64,
        }
    }
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

/// A caller holding policy `P`'s permission, and the scope it gives: what
/// store queries are confined to.
pub struct Authorized<P: Policy> {
    pub principal: Principal,
    pub scope: Scope,
    /// Kept to name the request in the audit trail; read only by writes.
    req: HttpRequest,
    policy: PhantomData<P>,
}

impl<P: Policy> Authorized<P> {
    pub fn tenant_id(&self) -> &str {
        &self.scope.tenant_id
    }

    /// The caller and its request, as the audit trail records them.
    pub fn actor(&self) -> Actor {
        actor_of(&self.principal, &self.req)
    }
}

/// Who `principal` is and which request `req` is, for the audit trail:
/// the route's pattern, never its path (paths carry emails and phones).
fn actor_of(principal: &Principal, req: &HttpRequest) -> Actor {
    let kind = match principal.kind {
        TokenKind::Admin => "admin",
        TokenKind::Client => "client",
        TokenKind::User => "user",
        TokenKind::OrgAdmin => "org_admin",
    };
    let pattern = req.match_pattern();
    Actor {
        kind,
        client_id: Some(principal.client_id.clone()),
        subject: Some(principal.subject.clone()),
        request_id: req.extensions().get::<RequestId>().map(|id| id.0.clone()),
        route: Some(format!(
            "{} {}",
            req.method(),
            pattern.as_deref().unwrap_or("(no route)")
        )),
    }
}

pub(crate) fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// Set by [`Authorized`] once the caller is authorized; the extractors of
/// [`crate::input`] read the rest of the request only then, so a bad body
/// never answers before a missing grant does.
#[derive(Clone, Default)]
pub(crate) struct AuthGate(Rc<Cell<bool>>);

impl AuthGate {
    pub(crate) fn is_open(&self) -> bool {
        self.0.get()
    }
}

impl<P: Policy> FromRequest for Authorized<P> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req);
        let gate = AuthGate::default();
        req.extensions_mut().insert(gate.clone());
        let req = req.clone();
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            let token = token
                .ok_or_else(|| ApiError::Unauthorized("Missing bearer access token".into()))?;
            let principal = state.auth.verifier.verify(&token).await.map_err(|e| {
                tracing::info!(reason = %e, "access token refused");
                ApiError::Unauthorized("Invalid or expired access token".into())
            })?;
            // The request span's (`middleware::request_id`): extractors run
            // inside it.
            tracing::Span::current().record("tenant", principal.tenant_id.as_str());
            if state.auth.revocations.refuses(&principal) {
                tracing::info!(client_id = %principal.client_id, "revoked access token refused");
                return Err(ApiError::Unauthorized(
                    "Invalid or expired access token".into(),
                ));
            }
            let Some(scope) = principal.authorize::<P>() else {
                tracing::info!(policy = P::NAME, kind = ?principal.kind, "permission refused");
                state.auth.record_denial(&principal, &req, P::NAME).await;
                return Err(ApiError::Forbidden(format!(
                    "This access token lacks the permission this operation requires ({})",
                    P::NAME
                )));
            };
            gate.0.set(true);
            Ok(Self {
                principal,
                scope,
                req,
                policy: PhantomData,
            })
        })
    }
}
