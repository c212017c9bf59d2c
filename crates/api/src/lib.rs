//! The Omnivox HTTP API and the [`Application`] that wires it to storage.

pub mod admin;
pub mod agents;
pub mod app;
pub mod auth;
pub mod compliance;
pub mod config;
pub mod dialer;
pub mod error;
pub mod extract;
pub(crate) mod flow_routes;
pub mod imports;
pub mod inbound;
pub mod master_key;
pub mod middleware;
pub mod recordings;
pub mod routes;
pub mod sip;
pub mod state;

pub use app::{Application, BuildOptions};
pub use config::Config;
pub use error::{ApiError, ApiResult};
