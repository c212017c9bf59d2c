//! Commands from [`super::Session`] handles to the session task.

use super::{
    FrameMixer, LegId, LegOptions, LegStats, MixMatrix, PlayOptions, RecordSink, RemoteMedia, Reply,
};
use crate::ports::PortPair;
use crate::{Channel, FrameAnalyzer, FrameSource};

/// The larger fields are boxed: each session's channel holds 32 commands
/// up front.
pub(crate) enum Command {
    AddLeg {
        id: LegId,
        pair: Box<PortPair>,
        options: LegOptions,
        reply: Reply<()>,
    },
    SetRemote {
        leg: LegId,
        remote: Box<RemoteMedia>,
        reply: Reply<()>,
    },
    Bridge {
        a: LegId,
        b: LegId,
        reply: Reply<()>,
    },
    Unbridge {
        leg: LegId,
        reply: Reply<()>,
    },
    Play {
        leg: LegId,
        source: Box<dyn FrameSource>,
        options: PlayOptions,
        reply: Reply<()>,
    },
    StopPlay {
        leg: LegId,
        reply: Reply<()>,
    },
    Analyze {
        leg: LegId,
        analyzer: Box<dyn FrameAnalyzer>,
        reply: Reply<()>,
    },
    StopAnalyze {
        leg: LegId,
        reply: Reply<()>,
    },
    Record {
        sink: Box<dyn RecordSink>,
        channels: Vec<(LegId, Channel)>,
        reply: Reply<()>,
    },
    StopRecord {
        reply: Reply<Option<Box<dyn RecordSink>>>,
    },
    SendDtmf {
        leg: LegId,
        digit: char,
        duration_ms: u32,
        reply: Reply<()>,
    },
    Mix {
        matrix: MixMatrix,
        mixer: Box<dyn FrameMixer>,
        reply: Reply<()>,
    },
    Unmix {
        reply: Reply<()>,
    },
    Stats {
        leg: LegId,
        reply: Reply<LegStats>,
    },
    CloseLeg {
        leg: LegId,
        reply: Reply<()>,
    },
    Close {
        reply: Reply<()>,
    },
}
