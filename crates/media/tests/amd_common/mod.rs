//! The AMD corpus shared by `tests/amd_corpus.rs` and `benches/amd.rs`:
//! generate it (scripts/amd-corpus/generate.py, espeak-ng + sox) under the
//! target directory, load its clips and labels, run the detector over them
//! and score the verdicts.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use omnivox_media::amd::{AmdConfig, AmdDetector, Outcome, Reason, Verdict};
use omnivox_media::{Detection, FRAME_SAMPLES, Frame, FrameAnalyzer};

/// Columns of the committed label list (scripts/amd-corpus/labels.csv).
pub const SPEC_COLUMNS: usize = 16;

/// One labeled clip.
pub struct Clip {
    pub id: String,
    pub machine: bool,
    pub train: bool,
    pub kind: String,
    pub noise: String,
    pub lead_ms: u32,
    pub first_speech_end_ms: u32,
    /// When the beep ends, for machines with one.
    pub beep_end_ms: Option<u32>,
    pub frames: Vec<Frame>,
}

/// Why the corpus is not available.
#[derive(Debug)]
pub enum Unavailable {
    /// A tool is missing: skip, with this message.
    Missing(String),
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The target directory this binary was built into (…/target/<profile>/deps/<exe>).
fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(Path::to_path_buf))
        .unwrap_or_else(|| workspace().join("target"))
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Generate the corpus (a no-op when it is already there) and return its
/// directory.
pub fn ensure_corpus() -> Result<PathBuf, Unavailable> {
    for tool in ["python3", "espeak-ng", "sox"] {
        if !have(tool) {
            // The project's test script installs them and sets this: there
            // a missing tool is a failure, not a skip.
            if std::env::var_os("OMNIVOX_REQUIRE_AUDIO_TOOLS").is_some() {
                panic!("{tool} is not installed and OMNIVOX_REQUIRE_AUDIO_TOOLS is set");
            }
            return Err(Unavailable::Missing(format!(
                "{tool} is not installed (apt-get install -y espeak-ng sox python3); \
                 scripts/test.sh installs them"
            )));
        }
    }
    let out = target_dir().join("amd-corpus");
    let script = workspace().join("scripts/amd-corpus/generate.py");
    let status = Command::new("python3")
        .arg(&script)
        .arg("--out")
        .arg(&out)
        .arg("--jobs")
        .arg("2")
        .status();
    match status {
        Ok(s) if s.success() => Ok(out),
        other => panic!("{} failed: {other:?}", script.display()),
    }
}

fn read_csv(path: &Path) -> Vec<csv::StringRecord> {
    let mut reader = match csv::Reader::from_path(path) {
        Ok(r) => r,
        Err(e) => panic!("{}: {e}", path.display()),
    };
    reader
        .records()
        .map(|r| match r {
            Ok(r) => r,
            Err(e) => panic!("{}: {e}", path.display()),
        })
        .collect()
}

/// The committed label list must match what the generator wrote, column
/// for column: the corpus is deterministic and the labels are reviewed.
pub fn check_labels_match_committed(dir: &Path) {
    let committed = read_csv(&workspace().join("scripts/amd-corpus/labels.csv"));
    let generated = read_csv(&dir.join("labels.csv"));
    assert_eq!(committed.len(), generated.len(), "clip count");
    for (c, g) in committed.iter().zip(&generated) {
        let g: Vec<&str> = g.iter().take(SPEC_COLUMNS).collect();
        let c: Vec<&str> = c.iter().collect();
        assert_eq!(c, g, "committed label row differs from the generated one");
    }
}

fn load_frames(path: &Path) -> Vec<Frame> {
    let mut reader = match hound::WavReader::open(path) {
        Ok(r) => r,
        Err(e) => panic!("{}: {e}", path.display()),
    };
    let spec = reader.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (8_000, 1, 16),
        "{}",
        path.display()
    );
    let samples: Vec<i16> = reader
        .samples::<i16>()
        .map(|s| match s {
            Ok(s) => s,
            Err(e) => panic!("{}: {e}", path.display()),
        })
        .collect();
    samples
        .chunks_exact(FRAME_SAMPLES)
        .map(|c| {
            let mut f = [0i16; FRAME_SAMPLES];
            f.copy_from_slice(c);
            f
        })
        .collect()
}

/// Every clip of the corpus with its audio.
pub fn load(dir: &Path) -> Vec<Clip> {
    let rows = read_csv(&dir.join("labels.csv"));
    let header = match csv::Reader::from_path(dir.join("labels.csv"))
        .and_then(|mut r| r.headers().cloned())
    {
        Ok(h) => h,
        Err(e) => panic!("labels.csv: {e}"),
    };
    let col: HashMap<&str, usize> = header.iter().enumerate().map(|(i, h)| (h, i)).collect();
    let get = |row: &csv::StringRecord, name: &str| -> String {
        col.get(name)
            .and_then(|&i| row.get(i))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("labels.csv: no column {name}"))
    };
    let num = |s: String| -> u32 { s.parse().unwrap_or_else(|e| panic!("labels.csv: {s}: {e}")) };
    rows.iter()
        .map(|row| {
            let id = get(row, "id");
            let beep = get(row, "beep_end_ms");
            Clip {
                frames: load_frames(&dir.join("clips").join(format!("{id}.wav"))),
                id,
                machine: get(row, "label") == "machine",
                train: get(row, "split") == "train",
                kind: get(row, "kind"),
                noise: get(row, "noise"),
                lead_ms: num(get(row, "lead_ms")),
                first_speech_end_ms: num(get(row, "first_speech_end_ms")),
                beep_end_ms: (!beep.is_empty()).then(|| num(beep)),
            }
        })
        .collect()
}

/// What the detector said about one clip.
#[derive(Clone, Copy, Debug)]
pub struct Result1 {
    pub first: Option<Verdict>,
    /// `beep_ms` from whichever report carried it.
    pub beep_ms: Option<u32>,
}

/// Run a fresh detector over the clip, frame by frame.
pub fn run(config: &AmdConfig, clip: &Clip) -> Result1 {
    let mut det = match AmdDetector::new(config.clone()) {
        Ok(d) => d,
        Err(e) => panic!("config: {e}"),
    };
    let mut out = Result1 {
        first: None,
        beep_ms: None,
    };
    for f in &clip.frames {
        if let Some(Detection::Answer(v)) = det.analyze(f) {
            if out.first.is_none() {
                out.first = Some(v);
            }
            if v.beep_ms.is_some() {
                out.beep_ms = v.beep_ms;
            }
        }
        if det.is_done() {
            break;
        }
    }
    out
}

/// Scores of one half of the corpus.
#[derive(Debug, Default)]
pub struct Score {
    /// Rows human, machine; columns Human, Machine, Unsure, none.
    pub matrix: [[usize; 4]; 2],
    pub decisions_ms: Vec<u32>,
    /// Decision times (from the answer) of the human and the machine clips.
    pub human_decisions_ms: Vec<u32>,
    pub machine_decisions_ms: Vec<u32>,
    /// Machines that open with special-information tones (before the
    /// initial-silence limit), and how many of them the tone-sequence rule
    /// decided.
    pub sit_clips: usize,
    pub sit_by_tones: usize,
    /// Decision time counted from the first sound of the answering side
    /// (0 when the detector decided before it, on initial silence).
    pub decisions_after_onset_ms: Vec<u32>,
    /// Humans: decision time after their first sentence ended.
    pub human_after_speech_ms: Vec<i64>,
    pub beeps: usize,
    /// Beeps reported within 100 ms of the true end.
    pub beeps_found: usize,
    pub beep_errors_ms: Vec<i64>,
    /// Beeps reported on clips without one, or far from the real one.
    pub false_beeps: usize,
    pub errors: Vec<String>,
}

impl Score {
    pub fn humans(&self) -> usize {
        self.matrix[0].iter().sum()
    }
    pub fn machines(&self) -> usize {
        self.matrix[1].iter().sum()
    }
    /// Humans called machines: each one an abandoned live call.
    pub fn human_as_machine(&self) -> f64 {
        self.matrix[0][1] as f64 / self.humans().max(1) as f64
    }
    /// Machines the dialer would connect to an agent: called human, unsure
    /// or undecided.
    pub fn machine_as_human(&self) -> f64 {
        let m = self.matrix[1];
        (m[0] + m[2] + m[3]) as f64 / self.machines().max(1) as f64
    }
    pub fn median_decision_ms(&self) -> u32 {
        median(&self.decisions_ms)
    }
    /// `(p50, p90)` of the human clips' decision times from the answer.
    pub fn human_p50_p90(&self) -> (u32, u32) {
        (
            percentile(&self.human_decisions_ms, 50),
            percentile(&self.human_decisions_ms, 90),
        )
    }
    /// `(p50, p90)` of the machine clips' decision times from the answer.
    pub fn machine_p50_p90(&self) -> (u32, u32) {
        (
            percentile(&self.machine_decisions_ms, 50),
            percentile(&self.machine_decisions_ms, 90),
        )
    }
    pub fn median_after_onset_ms(&self) -> u32 {
        median(&self.decisions_after_onset_ms)
    }
    pub fn median_human_after_speech_ms(&self) -> i64 {
        median_i64(&self.human_after_speech_ms)
    }
    pub fn beep_recall(&self) -> f64 {
        self.beeps_found as f64 / self.beeps.max(1) as f64
    }

    pub fn table(&self, name: &str) -> String {
        let m = &self.matrix;
        format!(
            "{name}: {} humans, {} machines\n\
             \x20               -> human  machine  unsure  none\n\
             \x20 human            {:5}  {:7}  {:6}  {:4}\n\
             \x20 machine          {:5}  {:7}  {:6}  {:4}\n\
             \x20 human-as-machine {:.2} %, machine-as-human (incl. unsure) {:.2} %, \
             median decision {} ms from the answer, {} ms from the first sound \
             (humans: {} ms after their first sentence)\n\
             \x20 decision p50/p90 from the answer: humans {}/{} ms, machines {}/{} ms; \
             special-information tones decided by the tones {}/{}\n\
             \x20 beeps found {}/{} (median error {} ms), false beeps {}",
            self.humans(),
            self.machines(),
            m[0][0],
            m[0][1],
            m[0][2],
            m[0][3],
            m[1][0],
            m[1][1],
            m[1][2],
            m[1][3],
            100.0 * self.human_as_machine(),
            100.0 * self.machine_as_human(),
            self.median_decision_ms(),
            self.median_after_onset_ms(),
            median_i64(&self.human_after_speech_ms),
            self.human_p50_p90().0,
            self.human_p50_p90().1,
            self.machine_p50_p90().0,
            self.machine_p50_p90().1,
            self.sit_by_tones,
            self.sit_clips,
            self.beeps_found,
            self.beeps,
            median_i64(
                &self
                    .beep_errors_ms
                    .iter()
                    .map(|e| e.abs())
                    .collect::<Vec<_>>()
            ),
            self.false_beeps,
        )
    }
}

pub fn median(v: &[u32]) -> u32 {
    let mut v = v.to_vec();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// The `p`-th percentile (nearest rank, 0-100) of `v`; 0 when empty.
pub fn percentile(v: &[u32], p: usize) -> u32 {
    let mut v = v.to_vec();
    v.sort_unstable();
    let rank = (v.len() * p).div_ceil(100).max(1);
    v.get(rank - 1).copied().unwrap_or(0)
}

fn median_i64(v: &[i64]) -> i64 {
    let mut v = v.to_vec();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// Score the detector with `config` on the clips `pick` selects.
pub fn score(config: &AmdConfig, clips: &[Clip], pick: impl Fn(&Clip) -> bool) -> Score {
    let mut s = Score::default();
    for clip in clips.iter().filter(|c| pick(c)) {
        let r = run(config, clip);
        let row = usize::from(clip.machine);
        let col = match r.first.map(|v| v.outcome) {
            Some(Outcome::Human) => 0,
            Some(Outcome::Machine) => 1,
            Some(Outcome::Unsure) => 2,
            None => 3,
        };
        s.matrix[row][col] += 1;
        // Intercepts whose tones start before the initial-silence limit
        // (later ones are machines by their silence first).
        if clip.kind == "carrier_sit" && clip.lead_ms < config.initial_silence_ms {
            s.sit_clips += 1;
            if r.first.is_some_and(|v| v.reason == Reason::ToneSequence) {
                s.sit_by_tones += 1;
            }
        }
        if let Some(v) = r.first {
            s.decisions_ms.push(v.decision_ms);
            if clip.machine {
                s.machine_decisions_ms.push(v.decision_ms);
            } else {
                s.human_decisions_ms.push(v.decision_ms);
            }
            s.decisions_after_onset_ms
                .push(v.decision_ms.saturating_sub(clip.lead_ms));
            if !clip.machine {
                s.human_after_speech_ms
                    .push(i64::from(v.decision_ms) - i64::from(clip.first_speech_end_ms));
            }
        }
        let wrong = (clip.machine && col != 1) || (!clip.machine && col == 1);
        if wrong {
            s.errors.push(format!(
                "{} ({}, {}, noise {}, lead {} ms): {:?}",
                clip.id,
                if clip.machine { "machine" } else { "human" },
                clip.kind,
                clip.noise,
                clip.lead_ms,
                r.first
            ));
        }
        match (clip.beep_end_ms, r.beep_ms) {
            (Some(truth), found) => {
                s.beeps += 1;
                if let Some(found) = found {
                    let err = i64::from(found) - i64::from(truth);
                    s.beep_errors_ms.push(err);
                    if err.abs() <= 100 {
                        s.beeps_found += 1;
                    } else {
                        s.false_beeps += 1;
                    }
                }
            }
            (None, Some(_)) => s.false_beeps += 1,
            (None, None) => {}
        }
    }
    s
}
