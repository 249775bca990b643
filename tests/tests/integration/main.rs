//! idstore's integration tests: one binary, real HTTP, real PostgreSQL.

mod applications;
mod attacks;
mod chart;
mod client_limits;
mod deploy;
mod groups;
mod overload;
mod permissions;
mod process;
mod revocation;
mod search_plans;
mod seed;
mod spine_http;
mod spine_process;
mod spine_schema;
mod throttle;
mod tokens;
mod tokens_process;
mod tour;
mod users_create_read;
mod users_search;
mod users_update;
