//! Call recordings: stereo 16-bit 8 kHz WAV, customer left, agent right;
//! or mono, the customer alone ([`RecorderConfig::mono`]: a voicemail
//! message).
//!
//! The relay pushes each leg's decoded frames as they arrive
//! ([`Recorder::push`]). The two legs are not in lock-step (jitter, a leg
//! that is silent or not yet bridged), so frames wait in a short per-channel
//! queue and are written in pairs; once one channel runs more than
//! [`RecorderConfig::max_lead_frames`] ahead, the other is padded with
//! silence, so buffering is bounded and a dead leg never stalls the file.
//! Time in the file is counted in frames: a frame that arrives after its
//! slot was padded goes into the next free slot.
//!
//! The file grows incrementally: every second (by default) the buffered
//! audio is written, the header's sizes are patched and the writer flushed,
//! so a crash loses at most that second and [`repair`] makes the remainder
//! a valid file. Pausing (PCI: while card numbers are read out) writes
//! silence and records the paused spans.

mod store;
pub(crate) mod wav;

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::{Channel, FRAME_SAMPLES, Frame, SAMPLE_RATE};

pub use store::{
    LocalStore, MAX_ID_LEN, RecordingKey, RecordingReader, RecordingStore, RecordingWriter,
};
pub use wav::{HEADER_LEN, repair};

/// Errors of recording and of recording storage.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A tenant or recording id with characters outside `[A-Za-z0-9_-]`.
    #[error("invalid recording key: bad {0}")]
    InvalidKey(&'static str),
    #[error("recording not found")]
    NotFound,
    #[error("a recording with this key already exists")]
    AlreadyExists,
    #[error("range {start}-{end} not satisfiable for a recording of {len} bytes")]
    RangeNotSatisfiable { start: u64, end: u64, len: u64 },
    /// The file is not a WAV recording (or too damaged to repair).
    #[error("not a WAV recording: {0}")]
    NotWav(&'static str),
    /// WAV sizes are 32-bit: about 37 hours of stereo 8 kHz audio.
    #[error("recording reached the WAV size limit")]
    TooLong,
    #[error("recording storage I/O: {0}")]
    Io(#[from] io::Error),
}

/// Bytes of one stereo slot (a frame per channel).
const SLOT_BYTES: usize = FRAME_SAMPLES * 2 * 2;
/// Bytes of one mono slot.
const MONO_SLOT_BYTES: usize = FRAME_SAMPLES * 2;
/// Milliseconds per frame.
const FRAME_MS: u64 = (FRAME_SAMPLES as u64 * 1000) / SAMPLE_RATE as u64;

/// Tuning of a [`Recorder`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecorderConfig {
    /// How many frames a channel may run ahead of the other before the other
    /// is padded with silence (also the bound of the per-channel queue).
    pub max_lead_frames: usize,
    /// Frames between header patches and flushes (50 = one second).
    pub flush_every_frames: u32,
    /// Also fsync at each flush: survives power loss, not only a process
    /// crash, at the cost of one fsync per second per recording.
    pub sync_on_flush: bool,
    /// One channel, the customer's: agent frames are ignored (a message
    /// left by a caller with nobody else on the call).
    pub mono: bool,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        Self {
            max_lead_frames: 3,
            flush_every_frames: 50,
            sync_on_flush: false,
            mono: false,
        }
    }
}

/// A stretch of the recording written as silence because recording was
/// paused, in milliseconds from the start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PausedSpan {
    pub start_ms: u64,
    pub end_ms: u64,
}

/// What a finished recording is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordingMeta {
    pub key: RecordingKey,
    pub duration: Duration,
    /// Size of the file in bytes.
    pub size_bytes: u64,
    /// SHA-256 of the whole file as stored.
    pub sha256: [u8; 32],
    pub paused_spans: Vec<PausedSpan>,
}

impl RecordingMeta {
    /// The SHA-256 as lowercase hex.
    pub fn sha256_hex(&self) -> String {
        self.sha256.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A frame waiting for its partner, and whether recording was paused when
/// it arrived.
type Queued = (Frame, bool);

const SILENCE: Frame = [0; FRAME_SAMPLES];

/// Records one call. Not thread-safe by itself: the call's media task owns it.
pub struct Recorder {
    key: RecordingKey,
    store: Arc<dyn RecordingStore>,
    out: Option<Box<dyn RecordingWriter>>,
    config: RecorderConfig,
    /// Per-channel queues: customer, agent.
    queues: [VecDeque<Queued>; 2],
    paused: bool,
    /// Bytes of audio not yet handed to the writer.
    buf: Vec<u8>,
    /// Bytes per 20 ms slot: [`SLOT_BYTES`] or [`MONO_SLOT_BYTES`].
    slot_bytes: usize,
    /// Slots in `buf`.
    buffered_slots: u32,
    /// Bytes of audio handed to the writer.
    data_len: u64,
    /// Slots written (to the writer or `buf`).
    slots: u64,
    spans: Vec<PausedSpan>,
    /// Slot where the current paused span began.
    span_start: Option<u64>,
}

fn side(ch: Channel) -> usize {
    match ch {
        Channel::Customer => 0,
        Channel::Agent => 1,
    }
}

impl Recorder {
    /// Starts a recording under `key` in `store` (writes the header).
    pub fn start(
        store: Arc<dyn RecordingStore>,
        key: RecordingKey,
        config: RecorderConfig,
    ) -> Result<Self, RecordError> {
        let mut out = store.create(&key)?;
        let channels = if config.mono { 1 } else { 2 };
        out.write_all(&wav::header(channels, SAMPLE_RATE, 0))?;
        out.flush()?;
        let lead = config.max_lead_frames.max(1);
        let every = config.flush_every_frames.max(1) as usize;
        let slot_bytes = if config.mono {
            MONO_SLOT_BYTES
        } else {
            SLOT_BYTES
        };
        Ok(Self {
            key,
            store,
            out: Some(out),
            config,
            queues: [
                VecDeque::with_capacity(lead + 1),
                VecDeque::with_capacity(lead + 1),
            ],
            paused: false,
            buf: Vec::with_capacity(every * slot_bytes),
            slot_bytes,
            buffered_slots: 0,
            data_len: 0,
            slots: 0,
            spans: Vec::new(),
            span_start: None,
        })
    }

    /// The recording's key.
    pub fn key(&self) -> &RecordingKey {
        &self.key
    }

    /// Length of the audio written so far (queued frames not counted).
    pub fn duration(&self) -> Duration {
        Duration::from_millis(self.slots * FRAME_MS)
    }

    /// Whether recording is paused.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Stops capturing audio: frames arriving from now on are written as
    /// silence until [`Recorder::resume`].
    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// Captures audio again.
    pub fn resume(&mut self) {
        self.paused = false;
    }

    /// One leg's next 20 ms of audio.
    pub fn push(&mut self, ch: Channel, frame: &Frame) -> Result<(), RecordError> {
        if self.config.mono && ch == Channel::Agent {
            return Ok(());
        }
        let s = side(ch);
        let queued = if self.paused { SILENCE } else { *frame };
        self.queues[s].push_back((queued, self.paused));
        self.drain(false)
    }

    /// Writes every slot that can be written: pairs, and frames of a channel
    /// that is too far ahead (or all of them, at the end) against silence.
    fn drain(&mut self, all: bool) -> Result<(), RecordError> {
        let lead = self.config.max_lead_frames.max(1);
        loop {
            let (c, a) = (
                self.queues[0].front().copied(),
                self.queues[1].front().copied(),
            );
            let (cust, agent) = match (c, a) {
                (Some(c), Some(a)) => (c, a),
                (Some(c), None) if all || self.config.mono || self.queues[0].len() > lead => {
                    (c, (SILENCE, c.1))
                }
                (None, Some(a)) if all || self.queues[1].len() > lead => ((SILENCE, a.1), a),
                _ => return Ok(()),
            };
            self.write_slot(&cust.0, &agent.0, cust.1 || agent.1)?;
            if c.is_some() {
                self.queues[0].pop_front();
            }
            if a.is_some() {
                self.queues[1].pop_front();
            }
        }
    }

    fn write_slot(&mut self, left: &Frame, right: &Frame, paused: bool) -> Result<(), RecordError> {
        let total = self.data_len + self.buf.len() as u64 + self.slot_bytes as u64;
        if total > wav::MAX_DATA_LEN {
            return Err(RecordError::TooLong);
        }
        match (paused, self.span_start) {
            (true, None) => self.span_start = Some(self.slots),
            (false, Some(start)) => self.close_span(start),
            _ => {}
        }
        let start = self.buf.len();
        self.buf.resize(start + self.slot_bytes, 0);
        if !paused && self.config.mono {
            for (out, l) in self.buf[start..].chunks_exact_mut(2).zip(left) {
                out.copy_from_slice(&l.to_le_bytes());
            }
        } else if !paused {
            let slot = self.buf[start..].chunks_exact_mut(4);
            for ((out, l), r) in slot.zip(left).zip(right) {
                out[..2].copy_from_slice(&l.to_le_bytes());
                out[2..].copy_from_slice(&r.to_le_bytes());
            }
        }
        self.slots += 1;
        self.buffered_slots += 1;
        if self.buffered_slots >= self.config.flush_every_frames.max(1) {
            self.flush()?;
        }
        Ok(())
    }

    fn close_span(&mut self, start: u64) {
        self.spans.push(PausedSpan {
            start_ms: start * FRAME_MS,
            end_ms: self.slots * FRAME_MS,
        });
        self.span_start = None;
    }

    /// Writes the buffered audio, patches the header's sizes and flushes
    /// (and fsyncs if configured). Called every `flush_every_frames`.
    pub fn flush(&mut self) -> Result<(), RecordError> {
        let Some(out) = self.out.as_mut() else {
            return Ok(());
        };
        out.write_all(&self.buf)?;
        self.data_len += self.buf.len() as u64;
        self.buf.clear();
        self.buffered_slots = 0;
        wav::patch_sizes(out.as_mut(), self.data_len)?;
        out.flush()?;
        if self.config.sync_on_flush {
            out.sync()?;
        }
        Ok(())
    }

    /// Writes what is still queued (padding the shorter channel), completes
    /// the file and returns its metadata, hashing the file as stored.
    pub fn finish(mut self) -> Result<RecordingMeta, RecordError> {
        self.drain(true)?;
        if let Some(start) = self.span_start {
            self.close_span(start);
        }
        self.flush()?;
        if let Some(out) = self.out.take() {
            out.commit()?;
        }
        let stored = self.store.open(&self.key, None)?;
        let size_bytes = stored.total_len;
        let sha256 = sha256_of(stored.reader)?;
        Ok(RecordingMeta {
            key: self.key.clone(),
            duration: self.duration(),
            size_bytes,
            sha256,
            paused_spans: std::mem::take(&mut self.spans),
        })
    }
}

impl Drop for Recorder {
    /// A recorder dropped without [`Recorder::finish`] (the call task
    /// failed) still leaves a valid file with what it had written.
    fn drop(&mut self) {
        if self.out.is_some()
            && let Err(e) = self.drain(true).and_then(|()| self.flush())
        {
            tracing::warn!(error = %e, tenant_id = self.key.tenant(),
                recording_id = self.key.recording(), "recording not flushed on drop");
        }
    }
}

fn sha256_of(mut r: impl Read) -> Result<[u8; 32], RecordError> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_a_known_vector() {
        let d = sha256_of(&b"abc"[..]).unwrap();
        let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn frame_constants_agree() {
        assert_eq!(FRAME_MS, 20);
        assert_eq!(SLOT_BYTES, 640);
    }
}
