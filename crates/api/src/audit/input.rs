//! The audit trail's paging parameters.

use serde::Deserialize;

use crate::ApiError;
use crate::users::input::whole_number;

/// The page size when `page_limit` is not given.
const DEFAULT_PAGE_LIMIT: i64 = 100;
const MAX_PAGE_LIMIT: i64 = 1000;

/// As text, so that each bad value gets a message naming it.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// The `event_id` of the last event already read; the first page without it.
    #[param(value_type = Option<i64>)]
    after: Option<String>,
    /// 1 to 1000; 100 when left out.
    #[param(value_type = Option<i64>)]
    page_limit: Option<String>,
}

/// Checked [`PageParams`].
pub struct Page {
    /// The id of the last event already read.
    pub after: Option<i64>,
    pub limit: i64,
}

impl PageParams {
    pub fn validate(self) -> Result<Page, ApiError> {
        let mut problems = Vec::new();
        // Parsed as an integer: ids pass 2^53, past which a float is inexact.
        let after = self.after.and_then(|v| {
            v.parse::<i64>().ok().filter(|id| *id > 0).or_else(|| {
                problems.push(format!(
                    "after must be the event_id of an event (got `{}`)",
                    v.chars().take(20).collect::<String>()
                ));
                None
            })
        });
        let limit = match self.page_limit {
            None => DEFAULT_PAGE_LIMIT,
            Some(v) => whole_number("page_limit", &v, 1, MAX_PAGE_LIMIT).unwrap_or_else(|m| {
                problems.push(m);
                DEFAULT_PAGE_LIMIT
            }),
        };
        if problems.is_empty() {
            Ok(Page { after, limit })
        } else {
            Err(ApiError::BadRequest(problems))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(after: Option<&str>, limit: Option<&str>) -> Result<Page, ApiError> {
        PageParams {
            after: after.map(str::to_owned),
            page_limit: limit.map(str::to_owned),
        }
        .validate()
    }

    #[test]
    fn an_event_id_past_two_to_the_53_is_read_exactly() {
        let p = page(Some("9007199254740993"), None).unwrap();
        assert_eq!((p.after, p.limit), (Some(9_007_199_254_740_993), 100));
    }

    #[test]
    fn a_bad_after_and_a_bad_page_limit_are_both_reported() {
        let Err(ApiError::BadRequest(problems)) = page(Some("1.5"), Some("1001")) else {
            panic!("accepted");
        };
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(page(Some("0"), None).is_err());
        assert!(page(Some("-3"), None).is_err());
    }
}
