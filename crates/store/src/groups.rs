//! Groups of a tenant's users. Every query names the tenant.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::types::JsonValue;
use sqlx::{PgExecutor, PgPool};

use crate::audit::{self, Action, Actor, Event, audited, audited_delete};
use crate::error::Entity;
use crate::{StoreError, keyed, tenancy};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Group {
    pub tenant_id: String,
    pub group_id: String,
    pub name: String,
    pub description: Option<String>,
    /// Always a JSON object.
    pub custom_data: JsonValue,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

macro_rules! columns {
    () => {
        "tenant_id, group_id, name, description, custom_data, created_at, updated_at"
    };
}

pub struct NewGroup<'a> {
    pub tenant_id: &'a str,
    pub group_id: &'a str,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub custom_data: &'a JsonValue,
}

/// What [`add_members`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddMembers {
    /// Every user is now a member (some may have been already).
    Done,
    /// These users are not in the tenant; no membership was added.
    MissingUsers(Vec<String>),
}

/// Creates a group and records `actor`'s event, in one statement; a name
/// already used in the tenant is a conflict on
/// [`crate::Identifier::GroupName`].
#[tracing::instrument(name = "store.groups.create", skip_all, fields(db.system.name = "postgresql"))]
pub async fn create(
    executor: impl PgExecutor<'_>,
    group: NewGroup<'_>,
    actor: &Actor,
) -> Result<Group, StoreError> {
    const SQL: &str = concat!(
        audited!(
            concat!(
                "INSERT INTO groups (tenant_id, group_id, name, description, custom_data)
                 VALUES ($1, $2, $3, $4, $5) RETURNING ",
                columns!()
            ),
            "$6"
        ),
        "SELECT * FROM done"
    );
    let mut changed = vec!["name".to_owned()];
    if group.description.is_some() {
        changed.push("description".into());
    }
    if let Some(data) = group.custom_data.as_object() {
        changed.extend(audit::key_names("custom_data", data.keys()));
    }
    let event =
        Event::new(group.tenant_id, actor, Action::GroupCreate, group.group_id).changed(changed);
    Ok(sqlx::query_as(SQL)
        .bind(group.tenant_id)
        .bind(group.group_id)
        .bind(group.name)
        .bind(group.description)
        .bind(group.custom_data)
        .bind(event.param())
        .fetch_one(executor)
        .await?)
}

#[tracing::instrument(name = "store.groups.list", skip_all, fields(db.system.name = "postgresql"))]
pub async fn list(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
) -> Result<Vec<Group>, StoreError> {
    const SQL: &str = concat!(
        "SELECT ",
        columns!(),
        " FROM groups WHERE tenant_id = $1 ORDER BY name"
    );
    keyed::list(executor, SQL, &[tenant_id]).await
}

#[tracing::instrument(name = "store.groups.get", skip_all, fields(db.system.name = "postgresql"))]
pub async fn get(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    group_id: &str,
) -> Result<Group, StoreError> {
    const SQL: &str = concat!(
        "SELECT ",
        columns!(),
        " FROM groups WHERE tenant_id = $1 AND group_id = $2"
    );
    keyed::get(executor, SQL, &[tenant_id, group_id], Entity::Group).await
}

/// Deletes a group and, by cascade, its memberships, recording `actor`'s
/// event in the same statement.
#[tracing::instrument(name = "store.groups.delete", skip_all, fields(db.system.name = "postgresql"))]
pub async fn delete(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    group_id: &str,
    actor: &Actor,
) -> Result<(), StoreError> {
    const SQL: &str = audited_delete!(
        "DELETE FROM groups WHERE tenant_id = $1 AND group_id = $2",
        "$3"
    );
    let event = Event::new(tenant_id, actor, Action::GroupDelete, group_id);
    keyed::delete_audited(executor, SQL, &[tenant_id, group_id], Entity::Group, &event).await
}

/// Makes every user in `user_ids` a member, all or none: when a user is not
/// in the tenant nothing changes and the missing ids are returned. Existing
/// memberships are kept as they are. `actor`'s event names the users.
#[tracing::instrument(name = "store.groups.add_members", skip_all, fields(db.system.name = "postgresql"))]
pub async fn add_members(
    pool: &PgPool,
    tenant_id: &str,
    group_id: &str,
    user_ids: &[String],
    actor: &Actor,
) -> Result<AddMembers, StoreError> {
    let mut tx = tenancy::begin(pool, tenant_id).await?;
    // Key-share locks hold the group and the users until commit, so a
    // concurrent delete can't turn the insert below into a foreign-key error.
    sqlx::query("SELECT 1 FROM groups WHERE tenant_id = $1 AND group_id = $2 FOR KEY SHARE")
        .bind(tenant_id)
        .bind(group_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound(Entity::Group))?;
    let found: Vec<String> = sqlx::query_scalar(
        "SELECT user_id FROM users WHERE tenant_id = $1 AND user_id = ANY($2) FOR KEY SHARE",
    )
    .bind(tenant_id)
    .bind(user_ids)
    .fetch_all(&mut *tx)
    .await?;
    let missing = missing_ids(user_ids, &found);
    if !missing.is_empty() {
        return Ok(AddMembers::MissingUsers(missing));
    }
    sqlx::query(
        "INSERT INTO group_members (tenant_id, group_id, user_id)
         SELECT $1, $2, id FROM unnest($3::text[]) AS id
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant_id)
    .bind(group_id)
    .bind(user_ids)
    .execute(&mut *tx)
    .await?;
    let event = Event::new(tenant_id, actor, Action::GroupMembersAdd, group_id)
        .changed(vec!["members".into()])
        .refs(serde_json::json!({ "user_ids": user_ids }));
    audit::record(&mut *tx, &event).await?;
    tx.commit().await.map_err(StoreError::commit)?;
    Ok(AddMembers::Done)
}

/// The ids of `wanted` not in `found`, each once, in the order asked.
pub(crate) fn missing_ids(wanted: &[String], found: &[String]) -> Vec<String> {
    let found: HashSet<&str> = found.iter().map(String::as_str).collect();
    let mut named = HashSet::new();
    wanted
        .iter()
        .filter(|id| !found.contains(id.as_str()) && named.insert(id.as_str()))
        .cloned()
        .collect()
}

/// Ends a membership, recording `actor`'s event in the same statement;
/// [`Entity::GroupMember`] is not found when the user is not a member (or
/// either is unknown).
#[tracing::instrument(name = "store.groups.remove_member", skip_all, fields(db.system.name = "postgresql"))]
pub async fn remove_member(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    group_id: &str,
    user_id: &str,
    actor: &Actor,
) -> Result<(), StoreError> {
    const SQL: &str = audited_delete!(
        "DELETE FROM group_members WHERE tenant_id = $1 AND group_id = $2 AND user_id = $3",
        "$4"
    );
    let event = Event::new(tenant_id, actor, Action::GroupMemberRemove, group_id)
        .changed(vec!["members".into()])
        .refs(serde_json::json!({ "user_ids": [user_id] }));
    keyed::delete_audited(
        executor,
        SQL,
        &[tenant_id, group_id, user_id],
        Entity::GroupMember,
        &event,
    )
    .await
}

/// A user's row joined to one of its groups, if it has any.
#[derive(sqlx::FromRow)]
struct UserGroupRow {
    group_id: Option<String>,
    name: Option<String>,
    description: Option<String>,
    custom_data: Option<JsonValue>,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

impl UserGroupRow {
    fn into_group(self, tenant_id: &str) -> Option<Group> {
        Some(Group {
            tenant_id: tenant_id.to_owned(),
            group_id: self.group_id?,
            name: self.name?,
            description: self.description,
            custom_data: self.custom_data?,
            created_at: self.created_at?,
            updated_at: self.updated_at?,
        })
    }
}

/// The groups `user_id` belongs to, by name; [`Entity::User`] is not
/// found when the tenant has no such user: one statement answers both, so a user
/// deleted meanwhile is never mistaken for one without groups.
#[tracing::instrument(name = "store.groups.of_user", skip_all, fields(db.system.name = "postgresql"))]
pub async fn of_user(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    user_id: &str,
) -> Result<Vec<Group>, StoreError> {
    let rows: Vec<UserGroupRow> = sqlx::query_as(
        "SELECT g.group_id, g.name, g.description, g.custom_data, g.created_at, g.updated_at
           FROM users u
           LEFT JOIN (group_members m
                      JOIN groups g ON g.tenant_id = m.tenant_id AND g.group_id = m.group_id)
             ON m.tenant_id = u.tenant_id AND m.user_id = u.user_id
          WHERE u.tenant_id = $1 AND u.user_id = $2
          ORDER BY g.name",
    )
    .bind(tenant_id)
    .bind(user_id)
    .fetch_all(executor)
    .await?;
    if rows.is_empty() {
        return Err(StoreError::NotFound(Entity::User));
    }
    Ok(rows
        .into_iter()
        .filter_map(|row| row.into_group(tenant_id))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn missing_ids_keep_the_order_asked_and_name_each_once() {
        let wanted = ids(&["c", "a", "c", "b", "d"]);
        assert_eq!(missing_ids(&wanted, &ids(&["a", "b"])), ids(&["c", "d"]));
        assert!(missing_ids(&wanted, &ids(&["a", "b", "c", "d"])).is_empty());
    }
}
