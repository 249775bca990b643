//! The token endpoint's user grants: `authorization_code` (a login's code,
//! once, by the client and redirect URI it was issued for) and
//! `refresh_token` (rotating: each use answers a new one, and a used one
//! presented again revokes its whole family). The client has already
//! authenticated; everything here is confined to its tenant.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use idstore_auth::{UserGrant, ticket};
use idstore_store::StoreError;
use idstore_store::clients::KnownClient;
use idstore_store::login::{self, Presented, Refresh, Rotation, TicketKind};
use idstore_store::tenancy::{self, Tx};
use idstore_store::users::Lookup;
use idstore_store::{credentials, members};

use crate::AppState;
use crate::auth::{IssueError, IssuedToken};
use crate::error::OAuthError;
use crate::oidc::{server_error, store_error};

/// A UserAccessToken and the refresh token that renews it.
pub struct UserTokens {
    pub issued: IssuedToken,
    pub refresh_token: String,
}

fn invalid_grant(why: &str) -> OAuthError {
    OAuthError::InvalidGrant(why.to_owned())
}

/// Trades a login's code for tokens. The code is used, the tokens issued
/// and the refresh token stored in one transaction: a concurrent second
/// use waits for it and then revokes what it stored, and a failure (a
/// signing key unavailable, the database gone) leaves the code unused for
/// the client's retry.
pub async fn exchange_code(
    state: &AppState,
    client_id: &str,
    client: &KnownClient,
    code: &str,
    redirect_uri: &str,
) -> Result<UserTokens, OAuthError> {
    let tenant_id = &client.tenant_id;
    let digest = ticket::digest(code);
    // The code's refresh tokens form the family a second use revokes.
    let family_id = URL_SAFE_NO_PAD.encode(&digest);
    let mut tx = tenancy::begin(&state.pool, tenant_id)
        .await
        .map_err(store_error)?;
    let presented = login::consume_ticket(&mut tx, tenant_id, TicketKind::Code, &digest)
        .await
        .map_err(store_error)?;
    let ticket = match presented {
        Presented::Fresh(t) if t.client_id == client_id && t.redirect_uri == redirect_uri => t,
        Presented::Fresh(_) => {
            // Spent all the same: whoever presents it elsewhere is not
            // the client it was issued to.
            commit(tx).await?;
            return Err(invalid_grant(
                "code was issued to another client or redirect_uri",
            ));
        }
        Presented::Reused(_) => {
            tracing::warn!(
                client_id,
                "authorization code used twice: its tokens are revoked"
            );
            login::revoke_family(&mut *tx, tenant_id, &family_id)
                .await
                .map_err(store_error)?;
            commit(tx).await?;
            return Err(invalid_grant("code was already used"));
        }
        Presented::Invalid => return Err(invalid_grant("code is unknown or expired")),
    };
    let refresh = Refresh {
        family_id,
        user_id: ticket.user_id,
        client_id: client_id.to_owned(),
        org_id: ticket.org_id,
    };
    issue(state, client, &refresh, tx).await
}

/// Trades a refresh token for new tokens, in one transaction as above.
pub async fn refresh(
    state: &AppState,
    client_id: &str,
    client: &KnownClient,
    refresh_token: &str,
) -> Result<UserTokens, OAuthError> {
    let tenant_id = &client.tenant_id;
    let digest = ticket::digest(refresh_token);
    let mut tx = tenancy::begin(&state.pool, tenant_id)
        .await
        .map_err(store_error)?;
    let rotated = login::rotate_refresh(&mut tx, tenant_id, &digest)
        .await
        .map_err(store_error)?;
    match rotated {
        Rotation::Rotated(r) if r.client_id == client_id => issue(state, client, &r, tx).await,
        Rotation::Rotated(r) => {
            // Another client's token: stolen, as a reuse would be.
            login::revoke_family(&mut *tx, tenant_id, &r.family_id)
                .await
                .map_err(store_error)?;
            commit(tx).await?;
            Err(invalid_grant("refresh_token was issued to another client"))
        }
        Rotation::Reused => {
            // `rotate_refresh` revoked the family.
            commit(tx).await?;
            tracing::warn!(client_id, "refresh token used twice: its family is revoked");
            Err(invalid_grant(
                "refresh_token was already used; every token of its login is revoked",
            ))
        }
        Rotation::Invalid => Err(invalid_grant(
            "refresh_token is unknown, revoked or expired",
        )),
    }
}

async fn commit(tx: Tx) -> Result<(), OAuthError> {
    tx.commit()
        .await
        .map_err(|e| store_error(StoreError::commit(e)))
}

/// Issues the user's access token and the family's next refresh token,
/// if the user may still sign in, and commits `tx` (which used the code
/// or the refresh token presented).
async fn issue(
    state: &AppState,
    client: &KnownClient,
    refresh: &Refresh,
    mut tx: Tx,
) -> Result<UserTokens, OAuthError> {
    let tenant_id = &client.tenant_id;
    let user = credentials::find(&mut tx, tenant_id, Lookup::Id(&refresh.user_id)).await;
    match user {
        Ok(user) if user.is_active() => {}
        Ok(_) | Err(StoreError::NotFound(_)) => {
            return Err(invalid_grant("the user is disabled or deleted"));
        }
        Err(e) => return Err(store_error(e)),
    }
    // Signed in to an organization: its member's roles there, read now, so
    // a disabled membership gives the next token none, an ended one none.
    let roles = match &refresh.org_id {
        None => Vec::new(),
        Some(org) => {
            members::token_roles(&mut *tx, tenant_id, org, &refresh.user_id, &client.app_id)
                .await
                .map_err(store_error)?
                .ok_or_else(|| {
                    invalid_grant("the user is no longer a member of the organization")
                })?
        }
    };
    let grant = UserGrant {
        tenant_id,
        app_id: &client.app_id,
        client_id: &refresh.client_id,
        user_id: &refresh.user_id,
        org_id: refresh.org_id.as_deref(),
        roles,
        lifetime: state.login.user_token_lifetime,
    };
    let issued = state
        .auth
        .issue_user_token(&grant)
        .await
        .map_err(|e| match e {
            IssueError::Store(e) => store_error(e),
            e @ IssueError::Unsealable { .. } => OAuthError::SigningKeyUnavailable(e.to_string()),
            other => server_error(other),
        })?;
    let (refresh_token, digest) = ticket::new_ticket().map_err(server_error)?;
    let ttl = state.login.refresh_token_lifetime;
    login::issue_refresh(&mut *tx, tenant_id, &digest, refresh, ttl)
        .await
        .map_err(store_error)?;
    commit(tx).await?;
    Ok(UserTokens {
        issued,
        refresh_token,
    })
}
