//! Users' passwords: hashing and verification ([`hash`]), the built-in list
//! of common passwords and context words ([`common`]), and the filter of
//! breached passwords an operator imports ([`breached`]). Nothing here
//! reaches the network.

pub mod breached;
pub mod common;
pub mod hash;
