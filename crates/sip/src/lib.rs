//! Omnivox's SIP core: the endpoint (UDP and TCP), hardened against hostile
//! traffic, and the registrar for agent phones.
//!
//! Built on [rsipstack](https://crates.io/crates/rsipstack) (pinned `=0.7.14`)
//! for parsing, transactions and retransmissions. rsipstack types stay behind
//! this crate's own types; the public API is:
//!
//! - [`SipServer`]: binds the sockets ([`SipServer::bind`]), answers OPTIONS,
//!   runs the registrar, drains on shutdown, reports its ports and
//!   [`SipStats`].
//! - [`Directory`]: the seam through which the server reads agents' SIP
//!   credentials ([`SipAccount`], HA1 hashes only). [`MemoryDirectory`] is an
//!   in-process implementation for tests and embedding.
//! - [`Registrar`]: registration state ([`Binding`]s per agent, NAT-aware
//!   reachable targets) and [`RegistrationEvent`]s on a broadcast channel.
//! - [`fuzz_entry`]: the message-entry path without sockets, for fuzzers.
//!
//! ## Message-entry path
//!
//! Every datagram and every framed TCP message goes through one function
//! before rsipstack sees it: source ban and rate limit, keep-alives, size
//! limit, a raw header scan (Content-Length, User-Agent), scanner user agents,
//! the full parse (guarded against panics), the mandatory headers,
//! Max-Forwards, then `received`/`rport` on the top Via. What fails is
//! answered statelessly (400, 483, 501, 513) when a response can be built, and
//! dropped silently otherwise. Every outcome is counted ([`SipStats`]).

#![warn(missing_docs)]

mod auth;
pub mod calls;
mod config;
mod digest;
mod directory;
mod entry;
mod error;
mod fuzz;
mod guard;
mod nonce;
mod rawhead;
mod registrar;
mod router;
mod server;
mod stats;
mod transport;

pub use calls::model::{
    AmdConfig, AmdOutcome, Application, CallDirection, CallDirectory, CallError, CallRecord,
    CallRecorder, CallSnapshot, CallUpdate, CallerIdMode, DialRefusal, DidRoute, DidTarget,
    Endpoint, FinishedRecording, LegQuality, LegRecord, LegSnapshot, NumberFormat, Originate,
    PARK_LIMIT, RecordedChannel, RecordedLeg, RecordedMessage, RecordingPolicy, Trunk,
    TrunkCredentials, TrunkSource,
};
pub use calls::{CallCommand, CallNotice, CallService, LegMediaStats, PromptEnd, TrunkStatus};
pub use config::{
    AuthConfig, CallsConfig, GuardConfig, LimitsConfig, RegistrarConfig, Secret, ShutdownConfig,
    SipConfig, SipMediaConfig,
};
pub use digest::{DigestAlgorithm, ha1};
pub use directory::{AccountOwner, Directory, DirectoryError, MemoryDirectory, SipAccount};
pub use error::SipError;
pub use fuzz::fuzz_entry;
pub use registrar::{
    Binding, Registrar, Registration, RegistrationEvent, RegistrationEventKind, SipTransport,
};
pub use server::{CallHooks, DrainGuard, SipServer};
pub use stats::SipStats;
