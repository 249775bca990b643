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
mod writes;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use idstore_auth::policy;
use idstore_store::users::UserRow;

use idstore_domain::contact::{Email, Phone, Username};

use self::contacts::{remove_secondary, verify};
use self::reads::{ExternalUserId, UserId, count_users, get_by, get_by_identifier, list_users};
use self::wire::ApiUser;
use self::writes::{create_user, delete_user, remove_from_app, update_user};
use crate::routes::Routes;
use crate::wire::One;

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
