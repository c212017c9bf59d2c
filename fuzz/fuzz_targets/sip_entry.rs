//! The whole hardened SIP message-entry path (datagram and TCP stream
//! framing, the guard, parsing, the registrar's and the authenticator's
//! readers) on arbitrary bytes. Seeds: `crates/sip/fuzz-corpus/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    omnivox_sip::fuzz_entry(data);
});
