//! Users' passwords: hashing and verification ([`hash`]), the built-in list
//! of common passwords and context words ([`common`]), and the filter of
//! breached passwords an operator imports ([`breached`]), and the policy a
//! new password is held to ([`policy`]). Nothing here reaches the network.

pub mod breached;
pub mod common;
pub mod hash;
pub mod policy;
