//! Invitations as resources, idstore's extension of createMember's
//! `send_invite`: an organization's admin lists, resends and revokes
//! them; the invited application accepts one with the secret its link
//! carried. The mails themselves leave through the outbox
//! (`idstore_store::invitations`), drained by the server's mail worker.

use actix_web::{HttpResponse, web};
use idstore_auth::ticket;
use idstore_store::invitations::{self, Change, Invitation, Status};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::auth::Authorized;
use crate::input::{Body, path_id};
use crate::login::PasswordLogin;
use crate::members::{MembersEdit, MembersRead};
use crate::openapi::{BadRequestMessages, ErrorMessage};
use crate::routes::Routes;
use crate::users::input::Problems;
use crate::wire::{Many, One};
use crate::{ApiError, AppState};

#[derive(OpenApi)]
#[openapi(
    paths(
        list_invitations,
        resend_invitation,
        revoke_invitation,
        accept_invitation
    ),
    components(schemas(ApiInvitation, AcceptInput))
)]
pub struct Doc;

pub fn routes(r: &mut Routes) {
    r.at("/v1/organizations/{organization_id}/invitations")
        .get(list_invitations);
    r.at("/v1/organizations/{organization_id}/invitations/{invitation_id}/resend")
        .post(resend_invitation);
    r.at("/v1/organizations/{organization_id}/invitations/{invitation_id}/revoke")
        .post(revoke_invitation);
    r.at("/v1/auth/invitations/accept").post(accept_invitation);
}

/// Whether invitations can be mailed, and how to wake the worker that
/// mails them.
#[derive(Debug, Clone, Default)]
pub struct InvitationMail {
    /// A mail transport is configured (`mail_transport` is not `none`).
    pub enabled: bool,
    /// Notified when a mail became due, so the worker need not wait for
    /// its next poll.
    pub due: std::sync::Arc<tokio::sync::Notify>,
}

impl InvitationMail {
    /// `send_invite` asked for with no transport: refused, nothing written.
    pub fn check(&self) -> Result<(), ApiError> {
        if self.enabled {
            Ok(())
        } else {
            Err(ApiError::bad_request(
                "send_invite: this idstore sends no mail (mail_transport = none); set \
                 mail_transport to smtp (or log, for development), or leave send_invite out",
            ))
        }
    }
}

/// An invitation as answered (epoch milliseconds, as the vendor's times).
#[derive(Serialize, ToSchema)]
pub struct ApiInvitation<'a> {
    invitation_id: &'a str,
    organization_id: &'a str,
    user_id: &'a str,
    app_id: &'a str,
    email: &'a str,
    /// `pending`, `accepted`, `expired` or `revoked`.
    status: &'a str,
    created_at: i64,
    expires_at: i64,
    /// When the last mail went out; absent until one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    sent_at: Option<i64>,
    /// Mails sent so far (each with a new link).
    sends: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    accepted_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_at: Option<i64>,
}

impl<'a> From<&'a Invitation> for ApiInvitation<'a> {
    fn from(i: &'a Invitation) -> Self {
        Self {
            invitation_id: &i.invitation_id,
            organization_id: &i.organization_id,
            user_id: &i.user_id,
            app_id: &i.app_id,
            email: &i.email,
            status: &i.status,
            created_at: i.created_at.timestamp_millis(),
            expires_at: i.expires_at.timestamp_millis(),
            sent_at: i.sent_at.map(|t| t.timestamp_millis()),
            sends: i.sends,
            accepted_at: i.accepted_at.map(|t| t.timestamp_millis()),
            revoked_at: i.revoked_at.map(|t| t.timestamp_millis()),
        }
    }
}

/// Most invitations one list answers, and its default.
const MAX_PAGE_LIMIT: i64 = 1000;

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    page_limit: Option<String>,
}

/// The organization's invitations, newest first.
#[utoipa::path(
    get,
    path = "/v1/organizations/{organization_id}/invitations",
    operation_id = "getInvitations",
    extensions(("x-idstore-note" = json!(["SPEC_READINGS #43: invitations as resources, idstore's extension of createMember's send_invite"]))),
    tag = "idstore extension",
    params(
        ("organization_id" = String, Path),
        ("status" = Option<String>, Query, description = "Only `pending`, `accepted`, `expired` or `revoked` ones"),
        ("page_limit" = Option<String>, Query, description = "At most this many, 1 to 1000 (default 1000), newest first"),
    ),
    responses(
        (status = 200, description = "`{\"result\": [ApiInvitation]}`", body = inline(Many<ApiInvitation>)),
        (status = 400, description = "A malformed organization_id, status or page_limit", body = BadRequestMessages),
        (status = 404, description = "No such organization", body = ErrorMessage),
    ),
    security(("AdminAccessToken" = [])),
)]
async fn list_invitations(
    auth: Authorized<MembersRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    path_id("organization_id", &path)?;
    let mut p = Problems::default();
    let limit = p.page_limit(query.page_limit.as_deref(), MAX_PAGE_LIMIT);
    let status = query.status.as_deref().and_then(|s| {
        let status = Status::parse(s);
        if status.is_none() {
            p.add("status must be pending, accepted, expired or revoked");
        }
        status
    });
    p.finish()?;
    let found = invitations::list(&state.pool, &auth.scope, &path, status, limit).await?;
    Ok(HttpResponse::Ok().json(Many::of(found.iter().map(ApiInvitation::from))))
}

/// Mails the invitation again with a new link, valid for the
/// application's `invite_member_email_expiration_minutes` from now; the
/// earlier link stops working at once.
#[utoipa::path(
    post,
    path = "/v1/organizations/{organization_id}/invitations/{invitation_id}/resend",
    operation_id = "resendInvitation",
    extensions(("x-idstore-note" = json!(["SPEC_READINGS #43: invitations as resources, idstore's extension of createMember's send_invite"]))),
    tag = "idstore extension",
    params(("organization_id" = String, Path), ("invitation_id" = String, Path)),
    responses(
        (status = 200, description = "`{\"result\": ApiInvitation}`, its mail due", body = inline(One<ApiInvitation>)),
        (status = 400, description = "Accepted or revoked already, or a malformed id", body = BadRequestMessages),
        (status = 404, description = "No such organization or invitation", body = ErrorMessage),
    ),
    security(("AdminAccessToken" = [])),
)]
async fn resend_invitation(
    auth: Authorized<MembersEdit>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    // Whether mail can leave is asked once the invitation is found.
    let mail = state.invitation_mail.enabled;
    let answer = changed(&auth, &state, &path, Change::Resend { mail }).await?;
    state.invitation_mail.due.notify_one();
    Ok(answer)
}

/// Ends the invitation: its link stops working and no mail is sent.
#[utoipa::path(
    post,
    path = "/v1/organizations/{organization_id}/invitations/{invitation_id}/revoke",
    operation_id = "revokeInvitation",
    extensions(("x-idstore-note" = json!(["SPEC_READINGS #43: invitations as resources, idstore's extension of createMember's send_invite"]))),
    tag = "idstore extension",
    params(("organization_id" = String, Path), ("invitation_id" = String, Path)),
    responses(
        (status = 200, description = "`{\"result\": ApiInvitation}`, revoked", body = inline(One<ApiInvitation>)),
        (status = 400, description = "Accepted already, or a malformed id", body = BadRequestMessages),
        (status = 404, description = "No such organization or invitation", body = ErrorMessage),
    ),
    security(("AdminAccessToken" = [])),
)]
async fn revoke_invitation(
    auth: Authorized<MembersEdit>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    changed(&auth, &state, &path, Change::Revoke).await
}

async fn changed(
    auth: &Authorized<MembersEdit>,
    state: &AppState,
    path: &(String, String),
    change: Change,
) -> Result<HttpResponse, ApiError> {
    let (organization_id, invitation_id) = path;
    path_id("organization_id", organization_id)?;
    path_id("invitation_id", invitation_id)?;
    let invitation = invitations::change(
        &state.pool,
        &auth.scope,
        organization_id,
        invitation_id,
        change,
        &auth.actor(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(One::of(ApiInvitation::from(&invitation))))
}

/// The secret an invitation's link carried (its `invitation_token`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInput {
    invitation_token: String,
}

/// Accepts an invitation to the caller's application, once the invited
/// user authenticated with it: the user is associated with the
/// application, the invited email address is verified, and a Pending
/// user becomes Active.
#[utoipa::path(
    post,
    path = "/v1/auth/invitations/accept",
    operation_id = "acceptInvitation",
    extensions(("x-idstore-note" = json!(["SPEC_READINGS #43: invitations as resources, idstore's extension of createMember's send_invite"]))),
    tag = "idstore extension",
    request_body = AcceptInput,
    responses(
        (status = 200, description = "`{\"result\": ApiInvitation}`, accepted", body = inline(One<ApiInvitation>)),
        (status = 400, description = "An unknown, used, resent, revoked or expired invitation_token, or one of another application's invitation", body = BadRequestMessages),
    ),
    security(("ClientAccessToken" = [])),
)]
async fn accept_invitation(
    auth: Authorized<PasswordLogin>,
    state: web::Data<AppState>,
    body: Body<AcceptInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner();
    if input.invitation_token.is_empty() || input.invitation_token.len() > 256 {
        return Err(stale_token());
    }
    let digest = ticket::digest(&input.invitation_token);
    let accepted = invitations::accept(
        &state.pool,
        auth.tenant_id(),
        &auth.scope.app_id,
        &digest,
        &auth.actor(),
    )
    .await?
    .ok_or_else(stale_token)?;
    Ok(HttpResponse::Ok().json(One::of(ApiInvitation::from(&accepted))))
}

fn stale_token() -> ApiError {
    ApiError::bad_request(
        "invitation_token is unknown, used, resent, revoked or expired; ask the \
         organization's admin to resend the invitation",
    )
}
