//! Omnivox's media engine. Pure Rust, no database access: the call actors in
//! `sip` drive it through the handles defined here.
//!
//! Audio inside the engine is 8 kHz mono signed 16-bit PCM in 20 ms frames
//! ([`Frame`]); RTP payloads are decoded into frames only where something
//! needs the audio (transcoding, recording, mixing, detection, playback).
//!
//! Layout:
//! * RTP path: [`rtp`] (packets, RTCP), [`ports`] (port pairs), [`codec`]
//!   (G.711, payload types), [`rfc4733`] (DTMF events), [`quality`] (jitter,
//!   loss, RTT, E-model), [`relay`] (sessions and legs: latching, forwarding,
//!   transcoding, continuity, timeouts), [`loadgen`] (the relay benchmark's
//!   load generator).
//! * Audio processing on frames: [`goertzel`] (in-band DTMF), [`record`]
//!   (stereo WAV recordings), [`prompt`] (prompt conversion and playback),
//!   [`mix`] (conferences, listen/whisper/barge), [`amd`] (answering-machine
//!   detection).

pub mod amd;
pub mod codec;
pub mod goertzel;
pub mod loadgen;
pub mod mix;
pub mod ports;
pub mod prompt;
pub mod quality;
pub mod record;
pub mod relay;
pub mod rfc4733;
pub mod rtp;

/// Samples per second of the engine's audio.
pub const SAMPLE_RATE: u32 = 8_000;
/// Samples in one 20 ms frame.
pub const FRAME_SAMPLES: usize = 160;
/// One 20 ms frame of 8 kHz mono audio.
pub type Frame = [i16; FRAME_SAMPLES];

/// Audio that a leg plays instead of (or on top of) its bridged party: a
/// prompt, hold music. The relay pulls one frame every 20 ms.
pub trait FrameSource: Send + 'static {
    /// Fill `out` with the next 20 ms; `false` once the source has ended
    /// (`out` is then left as it was).
    fn next_frame(&mut self, out: &mut Frame) -> bool;
}

/// Watches the decoded audio of one leg (in-band DTMF, answering-machine
/// detection) and reports what it found.
pub trait FrameAnalyzer: Send + 'static {
    /// The leg's next 20 ms as heard; `Some` when this frame completed a
    /// detection.
    fn analyze(&mut self, frame: &Frame) -> Option<Detection>;
}

/// What an analyzer found in a leg's audio.
#[derive(Clone, Debug, PartialEq)]
pub enum Detection {
    /// A DTMF digit detected in band, once it ended.
    Digit { digit: char, duration_ms: u32 },
    /// The answering-machine detector's verdict.
    Answer(amd::Verdict),
}

/// Which side of a stereo recording a leg's audio goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The customer (left).
    Customer,
    /// The agent (right).
    Agent,
}
