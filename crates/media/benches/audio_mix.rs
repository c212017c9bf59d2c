//! Cost of the audio-processing pieces per call-second (50 ticks of 20 ms),
//! against a memcpy baseline measured in the same run: the baseline copies
//! the same frames the mixer reads and writes, so the ratio is the price
//! of mixing over merely moving the audio.
//!
//! Run: `cargo bench -p omnivox-media --bench audio_mix`. Prints one JSON
//! object. Each figure is the median of several repetitions (the machine
//! is shared), in nanoseconds of one core per call-second.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use omnivox_media::goertzel::DtmfDetector;
use omnivox_media::mix::{Mixer, ParticipantId, Role};
use omnivox_media::prompt::{ConvertOptions, Prompt};
use omnivox_media::record::{LocalStore, Recorder, RecorderConfig, RecordingKey};
use omnivox_media::{Channel, FRAME_SAMPLES, Frame, FrameAnalyzer};

const TICKS_PER_SECOND: usize = 50;
const REPEATS: usize = 7;

fn tone_frames(n: usize, seed: u64) -> Vec<Frame> {
    (0..n)
        .map(|i| {
            std::array::from_fn(|s| {
                let t = (i * FRAME_SAMPLES + s) as f64 / 8000.0;
                let f = 300.0 + 97.0 * seed as f64;
                (6000.0 * (2.0 * std::f64::consts::PI * f * t).sin()) as i16
            })
        })
        .collect()
}

/// Median and minimum of `REPEATS` runs of `f`, each covering
/// `call_seconds`, in ns per call-second.
fn measure(call_seconds: usize, mut f: impl FnMut()) -> (f64, f64) {
    f(); // warm up
    let mut runs: Vec<f64> = (0..REPEATS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_nanos() as f64 / call_seconds as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    (runs[REPEATS / 2], runs[0])
}

/// Copies each participant's frame into an output, as a relay that only
/// forwards audio would: the floor under any mixing.
fn baseline(inputs: &[Vec<Frame>], call_seconds: usize) -> (f64, f64) {
    let n = inputs.len();
    let mut outputs = vec![[0i16; FRAME_SAMPLES]; n];
    measure(call_seconds, || {
        for tick in 0..call_seconds * TICKS_PER_SECOND {
            for (p, out) in outputs.iter_mut().enumerate() {
                let src = &inputs[(p + 1) % n][tick % inputs[0].len()];
                out.copy_from_slice(black_box(src));
            }
            black_box(&mut outputs);
        }
    })
}

fn mixing(roles: &[Role], inputs: &[Vec<Frame>], call_seconds: usize) -> (f64, f64) {
    let mut m = Mixer::new();
    for (i, &r) in roles.iter().enumerate() {
        m.add(i as ParticipantId, r).unwrap();
    }
    let mut outputs: Vec<(ParticipantId, Frame)> = (0..roles.len())
        .map(|i| (i as ParticipantId, [0; FRAME_SAMPLES]))
        .collect();
    let mut ins: Vec<(ParticipantId, Option<&Frame>)> = (0..roles.len())
        .map(|i| (i as ParticipantId, None))
        .collect();
    let len = inputs[0].len();
    measure(call_seconds, || {
        for tick in 0..call_seconds * TICKS_PER_SECOND {
            for (i, slot) in ins.iter_mut().enumerate() {
                slot.1 = Some(&inputs[i][tick % len]);
            }
            m.mix(black_box(&ins), &mut outputs).unwrap();
            black_box(&mut outputs);
        }
    })
}

/// A 44.1 kHz stereo 16-bit WAV file of `seconds` of a tone.
fn stereo_wav_44k1(seconds: usize) -> Vec<u8> {
    let rate = 44_100u32;
    let frames = rate as usize * seconds;
    let data_len = (frames * 4) as u32;
    let mut wav = Vec::with_capacity(44 + frames * 4);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    for v in [16u32, 1 | (2 << 16), rate, rate * 4, 4 | (16 << 16)] {
        wav.extend_from_slice(&v.to_le_bytes());
    }
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..frames {
        let v = (8000.0 * (i as f64 * 0.1).sin()) as i16;
        wav.extend_from_slice(&v.to_le_bytes());
        wav.extend_from_slice(&v.to_le_bytes());
    }
    wav
}

fn main() {
    let frames = TICKS_PER_SECOND * 4;
    let three: Vec<Vec<Frame>> = (0..3).map(|i| tone_frames(frames, i)).collect();
    let eight: Vec<Vec<Frame>> = (0..8).map(|i| tone_frames(frames, i)).collect();
    let secs = 2_000;

    let (base3, base3_min) = baseline(&three, secs);
    let (mix3, mix3_min) = mixing(&[Role::Customer, Role::Agent, Role::Whisper], &three, secs);
    let (base8, _) = baseline(&eight, secs / 4);
    let (mix8, mix8_min) = mixing(&[Role::Party; 8], &eight, secs / 4);

    // Recording: two legs pushed every tick into files under a temp dir,
    // including the once-a-second write, header patch and flush.
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalStore::new(dir.path()).unwrap());
    let rec_secs = 300;
    let mut n = 0;
    let mut finish_ns = Vec::new();
    let (record, record_min) = measure(rec_secs, || {
        n += 1;
        let key = RecordingKey::new("bench", format!("r{n}")).unwrap();
        let mut rec = Recorder::start(store.clone(), key, RecorderConfig::default()).unwrap();
        for tick in 0..rec_secs * TICKS_PER_SECOND {
            rec.push(Channel::Customer, &three[0][tick % frames])
                .unwrap();
            rec.push(Channel::Agent, &three[1][tick % frames]).unwrap();
        }
        let t = Instant::now();
        black_box(rec.finish().unwrap());
        finish_ns.push(t.elapsed().as_nanos() as f64 / rec_secs as f64);
    });
    finish_ns.sort_by(f64::total_cmp);
    let finish = finish_ns[finish_ns.len() / 2];
    // The memcpy baseline of recording: copying the two legs' frames.
    let mut sink = vec![[0i16; FRAME_SAMPLES]; 2];
    let (rec_base, _) = measure(rec_secs, || {
        for tick in 0..rec_secs * TICKS_PER_SECOND {
            sink[0].copy_from_slice(black_box(&three[0][tick % frames]));
            sink[1].copy_from_slice(black_box(&three[1][tick % frames]));
            black_box(&mut sink);
        }
    });

    // In-band DTMF detection on one leg.
    let mut det = DtmfDetector::default();
    let (dtmf, _) = measure(200, || {
        for tick in 0..200 * TICKS_PER_SECOND {
            black_box(det.analyze(black_box(&three[0][tick % frames])));
        }
    });

    // Prompt conversion: 10 s of 44.1 kHz stereo 16-bit, per input second.
    let wav = stereo_wav_44k1(10);
    let (convert, _) = measure(10, || {
        black_box(Prompt::convert(&wav, &ConvertOptions::default()).unwrap());
    });

    println!(
        "{{\"bench\":\"audio_mix\",\"unit\":\"ns_per_call_second\",\"repeats\":{REPEATS},\
\"mix_3_party_whisper\":{{\"median\":{mix3:.0},\"min\":{mix3_min:.0},\"memcpy_baseline\":{base3:.0},\"baseline_min\":{base3_min:.0},\"ratio\":{:.2},\"calls_per_core\":{:.0}}},\
\"mix_8_party_conference\":{{\"median\":{mix8:.0},\"min\":{mix8_min:.0},\"memcpy_baseline\":{base8:.0},\"ratio\":{:.2}}},\
\"record_2_legs\":{{\"median\":{record:.0},\"min\":{record_min:.0},\"finish_sha256_share\":{finish:.0},\"memcpy_baseline\":{rec_base:.0},\"ratio\":{:.2},\"calls_per_core\":{:.0}}},\
\"dtmf_detect_1_leg\":{{\"median\":{dtmf:.0}}},\
\"prompt_convert_44k1_stereo\":{{\"ns_per_input_second\":{convert:.0}}}}}",
        mix3 / base3,
        1e9 / mix3,
        mix8 / base8,
        record / rec_base,
        1e9 / record,
    );
}
