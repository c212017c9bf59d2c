//! Authentication: passwords, tokens, the principal of a request, caches.

pub mod cache;
pub mod csrf;
pub mod password;
pub mod principal;
pub mod tokens;
pub mod totp;

pub use principal::{Principal, TenantCtx};
