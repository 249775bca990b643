//! Who is calling and what they may do: principals, permissions, access
//! tokens (EdDSA JWTs), signing keys and their encryption at rest, client
//! secrets, users' passwords. Pure logic: storage comes in through [`token::KeySource`].

pub mod keys;
pub mod password;
pub mod permission;
pub mod principal;
pub mod secret;
pub mod ticket;
pub mod token;

pub use permission::{Grant, Policy};
pub use principal::{Principal, TokenKind};
pub use token::{
    AuthError, Claims, ClientGrant, KEY_REFRESH, KeyCache, KeySource, TokenSettings, UserGrant,
    Verifier,
};
