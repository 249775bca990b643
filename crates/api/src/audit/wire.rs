//! Audit events as answered: fields by name, things by id; nothing the
//! store did not write (no values ever reach it).

use idstore_store::audit::AuditEvent;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::input::date_time;

/// `{"result": [events], "next_after": id}`, oldest first.
#[derive(Serialize, ToSchema)]
pub struct AuditPage<'a> {
    pub result: Vec<ApiAuditEvent<'a>>,
    /// The `after` for the next page; `null` until there is an event.
    pub next_after: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ApiAuditEvent<'a> {
    event_id: i64,
    occurred_at: String,
    actor: ApiActor<'a>,
    request_id: Option<&'a str>,
    route: Option<&'a str>,
    action: &'a str,
    subject_id: Option<&'a str>,
    diff: Diff<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refs: Option<&'a Value>,
}

#[derive(Serialize, ToSchema)]
struct ApiActor<'a> {
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
}

#[derive(Serialize, ToSchema)]
struct Diff<'a> {
    /// The names of the fields that changed.
    changed: &'a [String],
}

impl<'a> From<&'a AuditEvent> for ApiAuditEvent<'a> {
    fn from(e: &'a AuditEvent) -> Self {
        Self {
            event_id: e.event_id,
            occurred_at: date_time(e.occurred_at),
            actor: ApiActor {
                kind: &e.actor_kind,
                client_id: e.actor_client_id.as_deref(),
                subject: e.actor_subject.as_deref(),
            },
            request_id: e.request_id.as_deref(),
            route: e.route.as_deref(),
            action: &e.action,
            subject_id: e.subject_id.as_deref(),
            diff: Diff {
                changed: &e.changed,
            },
            refs: e.refs.as_ref().map(|r| &r.0),
        }
    }
}
