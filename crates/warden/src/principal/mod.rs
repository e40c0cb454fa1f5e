//! The validated caller: [`Principal`], the kind of caller it is
//! ([`Caller`]), its stable [`Identity`], and the [`Names`] it holds.
//!
//! Claims are read once, after the claim checks and before the signature is trusted, into spans
//! of the claims text (`read`); the principal answers from them (`verified`). Which claims
//! identify a caller, and whether it is an application or a user, is a provider's rule
//! (`identity`).

pub(crate) mod identity;
mod read;
pub(crate) mod verified;

pub use identity::Caller;
pub(crate) use read::{Confirmation, Parts};
pub(crate) use verified::Principal;
pub use verified::{Identity, Names};
