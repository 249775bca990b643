//! Pure rules of idstore: identifiers, value types and aggregates. No I/O.

pub mod contact;
pub mod filter;
pub mod id;
pub mod scope;
pub mod user;
