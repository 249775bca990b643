//! Groups of users. Managing them is an extension of the vendor's API, so it
//! lives under `/v1/admin/groups` (DESIGN §4) for admin tokens only; reading
//! a user's groups is the Users API's `getUserGroups`. Every query is
//! confined to the caller's tenant, so another tenant's ids are not found.

use actix_web::{HttpResponse, web};
use idstore_auth::policy;
use idstore_domain::id::new_id;
use idstore_store::StoreError;
use idstore_store::groups::{self, AddMembers, Group, NewGroup};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::Authorized;
use crate::input::{millis, not_found, path_id, text};
use crate::{ApiError, AppState};

policy!(GroupsCreate = "groups:create");
policy!(GroupsList = "groups:list");
policy!(GroupsRead = "groups:read");
policy!(GroupsEdit = "groups:edit");
policy!(GroupsDelete = "groups:delete");
policy!(UserGroupsRead = "apps:read", "[appId]:read", "groups:read");

/// Largest `custom_data` accepted, serialized.
const MAX_CUSTOM_DATA_BYTES: usize = 16 * 1024;
/// Most users one request may add.
const MAX_MEMBERS_PER_REQUEST: usize = 1000;
/// Most missing ids a 404 names; the rest are counted.
const MAX_NAMED_MISSING: usize = 20;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/admin/groups")
            .post(create_group)
            .get(list_groups),
    )
    .service(
        web::resource("/v1/admin/groups/{group_id}")
            .get(get_group)
            .delete(delete_group),
    )
    .service(web::resource("/v1/admin/groups/{group_id}/members").post(add_members))
    .service(web::resource("/v1/admin/groups/{group_id}/members/{user_id}").delete(remove_member))
    .service(web::resource("/v1/users/{user_id}/groups").get(user_groups));
}

/// The spec's `ApiGroup`: `description` is omitted when absent, never null.
#[derive(Serialize)]
struct ApiGroup<'a> {
    group_id: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    created_at: i64,
    updated_at: i64,
    custom_data: &'a Value,
}

impl<'a> From<&'a Group> for ApiGroup<'a> {
    fn from(g: &'a Group) -> Self {
        Self {
            group_id: &g.group_id,
            name: &g.name,
            description: g.description.as_deref(),
            created_at: millis(g.created_at),
            updated_at: millis(g.updated_at),
            custom_data: &g.custom_data,
        }
    }
}

fn one(group: &Group) -> Value {
    json!({ "result": ApiGroup::from(group) })
}

fn many(list: &[Group]) -> Value {
    json!({ "result": list.iter().map(ApiGroup::from).collect::<Vec<_>>() })
}

/// The group, when it exists in the caller's tenant.
async fn group_of(state: &AppState, tenant_id: &str, group_id: &str) -> Result<Group, ApiError> {
    path_id("group_id", group_id)?;
    groups::get(&state.pool, tenant_id, group_id)
        .await
        .map_err(not_found("Group"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateGroupInput {
    name: String,
    description: Option<String>,
    custom_data: Option<Value>,
}

impl CreateGroupInput {
    fn check(&self) -> Result<(), ApiError> {
        text("name", &self.name, 100)?;
        if let Some(d) = &self.description {
            text("description", d, 1000)?;
        }
        if let Some(data) = &self.custom_data {
            custom_data(data)?;
        }
        Ok(())
    }
}

fn custom_data(data: &Value) -> Result<(), ApiError> {
    if !data.is_object() {
        return Err(ApiError::bad_request("custom_data must be an object"));
    }
    if data.to_string().len() > MAX_CUSTOM_DATA_BYTES {
        return Err(ApiError::bad_request(format!(
            "custom_data must serialize to at most {MAX_CUSTOM_DATA_BYTES} bytes"
        )));
    }
    Ok(())
}

async fn create_group(
    auth: Authorized<GroupsCreate>,
    state: web::Data<AppState>,
    body: web::Json<CreateGroupInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner();
    input.check()?;
    let custom_data = input.custom_data.unwrap_or_else(|| json!({}));
    let group = groups::create(
        &state.pool,
        NewGroup {
            tenant_id: auth.tenant_id(),
            group_id: &new_id(),
            name: &input.name,
            description: input.description.as_deref(),
            custom_data: &custom_data,
        },
    )
    .await
    .map_err(not_found("Group"))?;
    Ok(HttpResponse::Created().json(one(&group)))
}

async fn list_groups(
    auth: Authorized<GroupsList>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let list = groups::list(&state.pool, auth.tenant_id())
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(many(&list)))
}

async fn get_group(
    auth: Authorized<GroupsRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let group = group_of(&state, auth.tenant_id(), &path).await?;
    Ok(HttpResponse::Ok().json(one(&group)))
}

async fn delete_group(
    auth: Authorized<GroupsDelete>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    path_id("group_id", &path)?;
    groups::delete(&state.pool, auth.tenant_id(), &path)
        .await
        .map_err(not_found("Group"))?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddMembersInput {
    user_ids: Vec<String>,
}

impl AddMembersInput {
    fn check(&self) -> Result<(), ApiError> {
        if self.user_ids.is_empty() || self.user_ids.len() > MAX_MEMBERS_PER_REQUEST {
            return Err(ApiError::bad_request(format!(
                "user_ids must list 1 to {MAX_MEMBERS_PER_REQUEST} ids"
            )));
        }
        self.user_ids
            .iter()
            .try_for_each(|id| path_id("user_ids[]", id))
    }
}

/// Adds users to a group, all or none; users already in it stay.
async fn add_members(
    auth: Authorized<GroupsEdit>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<AddMembersInput>,
) -> Result<HttpResponse, ApiError> {
    path_id("group_id", &path)?;
    body.check()?;
    let outcome = groups::add_members(&state.pool, auth.tenant_id(), &path, &body.user_ids)
        .await
        .map_err(not_found("Group"))?;
    match outcome {
        AddMembers::Done => Ok(HttpResponse::NoContent().finish()),
        AddMembers::MissingUsers(missing) => Err(ApiError::NotFound(users_not_found(&missing))),
    }
}

/// Names the missing users, up to a bound that keeps the message small.
fn users_not_found(missing: &[String]) -> String {
    let named = missing[..missing.len().min(MAX_NAMED_MISSING)].join(", ");
    match missing.len().saturating_sub(MAX_NAMED_MISSING) {
        0 => format!("Users not found: {named}"),
        more => format!("Users not found: {named} and {more} more"),
    }
}

async fn remove_member(
    auth: Authorized<GroupsEdit>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (group_id, user_id) = path.into_inner();
    path_id("user_id", &user_id)?;
    let group = group_of(&state, auth.tenant_id(), &group_id).await?;
    groups::remove_member(&state.pool, auth.tenant_id(), &group.group_id, &user_id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::NotFound("User is not a member of this group".into()),
            other => ApiError::internal(other),
        })?;
    Ok(HttpResponse::NoContent().finish())
}

/// `getUserGroups`. Groups are tenant-wide, so an application's client sees
/// the groups of any user of its tenant.
async fn user_groups(
    auth: Authorized<UserGroupsRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    path_id("user_id", &path)?;
    let list = groups::of_user(&state.pool, auth.tenant_id(), &path)
        .await
        .map_err(not_found("User"))?;
    Ok(HttpResponse::Ok().json(many(&list)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_users_message_names_at_most_twenty_and_counts_the_rest() {
        let few: Vec<String> = vec!["a".into(), "b".into()];
        assert_eq!(users_not_found(&few), "Users not found: a, b");
        let many: Vec<String> = (0..25).map(|i| format!("u{i}")).collect();
        let message = users_not_found(&many);
        assert!(message.ends_with("u19 and 5 more"), "{message}");
        assert!(!message.contains("u20"), "{message}");
    }

    #[test]
    fn custom_data_must_be_a_small_object() {
        assert!(custom_data(&json!({"a": 1})).is_ok());
        assert!(custom_data(&json!([1])).is_err());
        assert!(custom_data(&json!("x")).is_err());
        let big = json!({ "k": "x".repeat(MAX_CUSTOM_DATA_BYTES) });
        assert!(custom_data(&big).is_err());
    }

    #[test]
    fn an_api_group_omits_an_absent_description() {
        let group = Group {
            tenant_id: "t".into(),
            group_id: "g".into(),
            name: "n".into(),
            description: None,
            custom_data: json!({}),
            created_at: chrono::DateTime::from_timestamp_millis(1_700_000_000_123).unwrap(),
            updated_at: chrono::DateTime::from_timestamp_millis(1_700_000_000_456).unwrap(),
        };
        assert_eq!(
            one(&group),
            json!({"result": {"group_id": "g", "name": "n", "created_at": 1_700_000_000_123_i64,
                              "updated_at": 1_700_000_000_456_i64, "custom_data": {}}})
        );
    }
}
