//! Request bodies of the applications endpoints.

use serde::Deserialize;

use crate::ApiError;
use crate::input::text;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAppInput {
    name: String,
    description: Option<String>,
    /// Deprecated in the vendor's API: accepted, not required.
    client_display_name: Option<String>,
}

/// A checked [`CreateAppInput`].
pub struct NewAppInput {
    pub name: String,
    pub description: Option<String>,
    /// The default client's name.
    pub client_name: String,
}

impl CreateAppInput {
    pub fn validate(self) -> Result<NewAppInput, ApiError> {
        text("name", &self.name, 100)?;
        if let Some(d) = &self.description {
            text("description", d, 1000)?;
        }
        let client_name = self.client_display_name.unwrap_or_else(|| "default".into());
        text("client_display_name", &client_name, 100)?;
        Ok(NewAppInput {
            name: self.name,
            description: self.description,
            client_name,
        })
    }
}
