//! The Users API (the vendor's Users document, `openapi/vendor/users.json`): create, read, search, update and
//! delete users, and the per-application view of them. A client token sees
//! tenant-level data of any user of its tenant but lists, counts and
//! carries app data only for users associated with its own application;
//! an admin token lists the whole tenant. The scope the token gives is
//! passed to every store query, which turns it into its predicate.

mod contacts;
pub mod input;
mod reads;
pub mod wire;
pub(crate) mod writes;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use idstore_auth::policy;
use idstore_store::users::UserRow;
use utoipa::OpenApi;

use idstore_domain::contact::{Email, Phone, Username};

use self::contacts::{remove_secondary, verify};
use self::reads::{ExternalUserId, UserId, count_users, get_by, get_by_identifier, list_users};
use self::wire::ApiUser;
use self::writes::{create_user, delete_user, remove_from_app, update_user};
use crate::routes::Routes;
use crate::wire::One;

#[derive(OpenApi)]
#[openapi(paths(
    reads::count_users,
    reads::get_by_identifier,
    reads::list_users,
    writes::create_user,
    writes::update_user,
    writes::remove_from_app,
    writes::delete_user,
    generic::get_user_by_id,
    generic::get_user_by_email,
    generic::get_user_by_external_user_id,
    generic::get_user_by_username,
    generic::get_user_by_phone,
    generic::deprecated_get_user_by_phone,
    generic::remove_user_secondary_email,
    generic::remove_user_secondary_phone_number,
    generic::verify_user_email,
    generic::verify_user_phone_number,
))]
pub struct Doc;

/// The operations of the generic handlers (`get_by`, `remove_secondary`,
/// `verify`), one per key kind: utoipa documents one function per
/// operation, so each operation has a stand-in here.
#[allow(
    dead_code,
    reason = "documentation only: the routes call the generic handlers"
)]
mod generic {
    #[utoipa::path(
        get,
        path = "/v1/users/{user_id}",
        operation_id = "getUserById",
        tag = "Users",
        extensions(("x-idstore-note" = json!([
            "SPEC_READINGS #4: `birthday` is answered as YYYY-MM-DD; accepted as YYYY-MM-DD or a full date-time (its date in UTC)",
            "SPEC_READINGS #21: `ApiAddress.updated_at` is output only; `identity_providers` is never sent; `identities` is always an array; `groupIds` always present",
        ]))),
    )]
    fn get_user_by_id() {}

    #[utoipa::path(
        get,
        path = "/v1/users/email/{email}",
        operation_id = "getUserByEmail",
        tag = "Users",
        extensions(("x-idstore-note" = json!([
            "SPEC_READINGS #4: `birthday` is answered as YYYY-MM-DD; accepted as YYYY-MM-DD or a full date-time (its date in UTC)",
            "SPEC_READINGS #21: `ApiAddress.updated_at` is output only; `identity_providers` is never sent; `identities` is always an array; `groupIds` always present",
        ]))),
    )]
    fn get_user_by_email() {}

    #[utoipa::path(
        get,
        path = "/v1/users/external-user-id/{external_user_id}",
        operation_id = "getUserByExternalUserId",
        tag = "Users",
        extensions(("x-idstore-note" = json!([
            "SPEC_READINGS #4: `birthday` is answered as YYYY-MM-DD; accepted as YYYY-MM-DD or a full date-time (its date in UTC)",
            "SPEC_READINGS #21: `ApiAddress.updated_at` is output only; `identity_providers` is never sent; `identities` is always an array; `groupIds` always present",
        ]))),
    )]
    fn get_user_by_external_user_id() {}

    #[utoipa::path(
        get,
        path = "/v1/users/username/{username}",
        operation_id = "getUserByUsername",
        tag = "Users",
        extensions(("x-idstore-note" = json!([
            "SPEC_READINGS #4: `birthday` is answered as YYYY-MM-DD; accepted as YYYY-MM-DD or a full date-time (its date in UTC)",
            "SPEC_READINGS #21: `ApiAddress.updated_at` is output only; `identity_providers` is never sent; `identities` is always an array; `groupIds` always present",
        ]))),
    )]
    fn get_user_by_username() {}

    #[utoipa::path(
        get,
        path = "/v1/users/phone-number/{phone_number}",
        operation_id = "getUserByPhone",
        tag = "Users",
        extensions(("x-idstore-note" = json!([
            "SPEC_READINGS #4: `birthday` is answered as YYYY-MM-DD; accepted as YYYY-MM-DD or a full date-time (its date in UTC)",
            "SPEC_READINGS #21: `ApiAddress.updated_at` is output only; `identity_providers` is never sent; `identities` is always an array; `groupIds` always present",
            "Phone numbers in the path may be `+1...`, `%2B1...` or without the `+`",
        ]))),
    )]
    fn get_user_by_phone() {}

    #[utoipa::path(
        get,
        path = "/v1/users/phone/{phone_number}",
        operation_id = "deprecatedGetUserByPhone",
        tag = "Users",
        extensions(("x-idstore-note" = json!([
            "SPEC_READINGS #4: `birthday` is answered as YYYY-MM-DD; accepted as YYYY-MM-DD or a full date-time (its date in UTC)",
            "SPEC_READINGS #21: `ApiAddress.updated_at` is output only; `identity_providers` is never sent; `identities` is always an array; `groupIds` always present",
            "SPEC_READINGS #17: lists no permissions; it needs what `getUserByPhone` needs and answers the same",
        ]))),
    )]
    fn deprecated_get_user_by_phone() {}

    #[utoipa::path(
        delete,
        path = "/v1/users/{user_id}/emails/{email}",
        operation_id = "removeUserSecondaryEmail",
        tag = "Users",
        extensions(("x-idstore-note" = json!([
            "SPEC_READINGS #18: the 400 and 404 are answered in the `BadRequestHttpError` and `NotFoundHttpError` shapes",
            "SPEC_READINGS #33: an application's clients may be denied this change by the extension `PUT /v1/admin/applications/{app_id}/user-permissions` (403, nothing written)",
        ]))),
    )]
    fn remove_user_secondary_email() {}

    #[utoipa::path(
        delete,
        path = "/v1/users/{user_id}/phone-numbers/{phone_number}",
        operation_id = "removeUserSecondaryPhoneNumber",
        tag = "Users",
        extensions(("x-idstore-note" = json!([
            "SPEC_READINGS #18: the 400 and 404 are answered in the `BadRequestHttpError` and `NotFoundHttpError` shapes",
            "SPEC_READINGS #33: an application's clients may be denied this change by the extension `PUT /v1/admin/applications/{app_id}/user-permissions` (403, nothing written)",
        ]))),
    )]
    fn remove_user_secondary_phone_number() {}

    #[utoipa::path(
        post,
        path = "/v1/users/{user_id}/emails/{email}/verify",
        operation_id = "verifyUserEmail",
        tag = "Users",
        responses(
            (status = 400, description = "SPEC_READINGS #19", body = ref("#/components/schemas/BadRequestHttpError")),
            (status = 409, description = "SPEC_READINGS #13", body = ref("#/components/schemas/IdentifierIsTakenHttpError")),
        ),
        extensions(("x-idstore-note" = json!([
            "SPEC_READINGS #13: a change that collides with another user's unique identifier is a 409 `IdentifierIsTaken`",
            "SPEC_READINGS #19: a malformed path value or body is a 400 in the `BadRequestHttpError` shape",
            "SPEC_READINGS #33: an application's clients may be denied this change by the extension `PUT /v1/admin/applications/{app_id}/user-permissions` (403, nothing written)",
        ]))),
    )]
    fn verify_user_email() {}

    #[utoipa::path(
        post,
        path = "/v1/users/{user_id}/phone-numbers/{phone_number}/verify",
        operation_id = "verifyUserPhoneNumber",
        tag = "Users",
        responses(
            (status = 400, description = "SPEC_READINGS #19", body = ref("#/components/schemas/BadRequestHttpError")),
            (status = 409, description = "SPEC_READINGS #13", body = ref("#/components/schemas/IdentifierIsTakenHttpError")),
        ),
        extensions(("x-idstore-note" = json!([
            "SPEC_READINGS #13: a change that collides with another user's unique identifier is a 409 `IdentifierIsTaken`",
            "SPEC_READINGS #19: a malformed path value or body is a 400 in the `BadRequestHttpError` shape",
            "SPEC_READINGS #33: an application's clients may be denied this change by the extension `PUT /v1/admin/applications/{app_id}/user-permissions` (403, nothing written)",
        ]))),
    )]
    fn verify_user_phone_number() {}
}

policy!(UsersCount = "users:list", "apps:list", "[appId]:list");
policy!(
    UsersCreate = "apps:create",
    "[appId]:create",
    "users:create"
);
policy!(
    UsersList = "users:read",
    "users:list",
    "apps:read",
    "[appId]:read",
    "apps:list",
    "[appId]:list"
);
policy!(UsersRead = "apps:read", "[appId]:read", "users:read");
policy!(UsersEdit = "apps:edit", "[appId]:edit", "users:edit");
policy!(
    /// Admin tokens only (CONTRADICTIONS #8).
    UsersDelete = "users:delete"
);

/// Fixed paths are registered before `/v1/users/{user_id}` so that they win.
pub fn routes(r: &mut Routes) {
    r.at("/v1/users/count").get(count_users);
    r.at("/v1/users/identifier").get(get_by_identifier);
    r.at("/v1/users/email/{email}").get(get_by::<Email>);
    r.at("/v1/users/external-user-id/{external_user_id}")
        .get(get_by::<ExternalUserId>);
    r.at("/v1/users/username/{username}")
        .get(get_by::<Username>);
    r.at("/v1/users/phone-number/{phone_number}")
        .get(get_by::<Phone>);
    // `deprecatedGetUserByPhone` lists no permissions; it answers as
    // `getUserByPhone` does.
    r.at("/v1/users/phone/{phone_number}").get(get_by::<Phone>);
    r.at("/v1/users").post(create_user).get(list_users);
    r.at("/v1/users/{user_id}")
        .get(get_by::<UserId>)
        .put(update_user);
    r.at("/v1/users/{user_id}/apps").delete(remove_from_app);
    r.at("/v1/users/{user_id}/emails/{email}")
        .delete(remove_secondary::<Email>);
    r.at("/v1/users/{user_id}/phone-numbers/{phone_number}")
        .delete(remove_secondary::<Phone>);
    r.at("/v1/users/{user_id}/emails/{email}/verify")
        .post(verify::<Email>);
    r.at("/v1/users/{user_id}/phone-numbers/{phone_number}/verify")
        .post(verify::<Phone>);
    r.at("/v1/manage/users/{user_id}").delete(delete_user);
}

/// `{"result": ApiUser}` with `status`.
fn one(user: &UserRow, status: StatusCode) -> HttpResponse {
    HttpResponse::build(status).json(One::of(ApiUser::from(user)))
}
