//! Request bodies of the Members API.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::ApiError;
use crate::users::input::{CreateUserInput, NewUserInput, Problems};
use idstore_store::members::MemberDetails;

/// Longest department, title or manager.
const MAX_DETAIL_CHARS: usize = 200;
/// Most roles one request gives.
const MAX_ROLE_IDS: usize = 100;

/// The vendor's `ApiUpdateMemberInput` (also `organization_information`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateMemberInput {
    enabled: Option<bool>,
    department: Option<String>,
    title: Option<String>,
    manager: Option<String>,
}

impl UpdateMemberInput {
    pub fn validate(self) -> Result<MemberDetails, ApiError> {
        let mut p = Problems::default();
        self.check(&mut p, "");
        p.finish()?;
        Ok(self.details())
    }

    fn check(&self, p: &mut Problems, prefix: &str) {
        for (field, value) in [
            ("department", &self.department),
            ("title", &self.title),
            ("manager", &self.manager),
        ] {
            p.text(
                &format!("{prefix}{field}"),
                value.as_deref(),
                MAX_DETAIL_CHARS,
            );
        }
    }

    fn details(self) -> MemberDetails {
        MemberDetails {
            enabled: self.enabled,
            department: self.department,
            title: self.title,
            manager: self.manager,
        }
    }
}

/// A checked `ApiCreateMemberInput`: the user's fields (as `createUser`
/// takes them) and the membership's.
pub struct NewMemberInput {
    pub user: NewUserInput,
    pub details: MemberDetails,
    /// Roles of the organization's role groups, of any application.
    pub role_ids: Vec<String>,
    /// Invite the member to each of the organization's applications.
    pub send_invite: bool,
}

/// The member-only fields of `ApiCreateMemberInput`; the rest is the
/// Users API's `ApiCreateUserInput`.
const MEMBER_FIELDS: [&str; 3] = ["organization_information", "role_ids", "send_invite"];

/// Parses `ApiCreateMemberInput`, reporting every problem at once.
pub fn new_member(mut body: Map<String, Value>) -> Result<NewMemberInput, ApiError> {
    let mut p = Problems::default();
    let [info, role_ids, send_invite] = MEMBER_FIELDS.map(|f| body.remove(f));
    let details = match info.map(serde_json::from_value::<UpdateMemberInput>) {
        None => UpdateMemberInput::default(),
        Some(Ok(info)) => {
            info.check(&mut p, "organization_information.");
            info
        }
        Some(Err(e)) => {
            p.add(format!("organization_information: {e}"));
            UpdateMemberInput::default()
        }
    };
    let role_ids = match role_ids.map(serde_json::from_value::<Vec<String>>) {
        None => {
            p.add("role_ids is required (it may be empty)");
            Vec::new()
        }
        Some(Err(_)) => {
            p.add("role_ids must be an array of role ids");
            Vec::new()
        }
        Some(Ok(ids)) => p.ids("role_ids", ids, MAX_ROLE_IDS),
    };
    let send_invite = match send_invite {
        None => false,
        Some(Value::Bool(send)) => send,
        Some(_) => {
            p.add("send_invite must be a boolean");
            false
        }
    };
    let user = match serde_json::from_value::<CreateUserInput>(Value::Object(body)) {
        Ok(user) => Some(user),
        Err(e) => {
            p.add(e.to_string());
            None
        }
    };
    p.finish()?;
    let user = user
        .ok_or_else(|| ApiError::bad_request("the body is not an ApiCreateMemberInput"))?
        .validate()?;
    Ok(NewMemberInput {
        user,
        details: details.details(),
        role_ids,
        send_invite,
    })
}
