//! Request bodies of the client endpoints.

use serde::Deserialize;

use crate::ApiError;
use crate::input::text;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateClientInput {
    name: String,
}

impl CreateClientInput {
    /// The client's name, checked.
    pub fn validate(self) -> Result<String, ApiError> {
        text("name", &self.name, 100)?;
        Ok(self.name)
    }
}
