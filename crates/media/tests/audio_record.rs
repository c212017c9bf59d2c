//! Stereo recordings through the local store, read back with hound: the
//! right signal on the right channel, alignment of late or silent legs,
//! pause spans, incremental writing, crash repair and the store's API.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use omnivox_media::goertzel::tone_power;
use omnivox_media::record::{
    HEADER_LEN, LocalStore, PausedSpan, RecordError, Recorder, RecorderConfig, RecordingKey,
    RecordingStore, repair,
};
use omnivox_media::{Channel, FRAME_SAMPLES, Frame, SAMPLE_RATE};
use sha2::{Digest, Sha256};

fn setup() -> (tempfile::TempDir, Arc<LocalStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalStore::new(dir.path().join("recordings")).unwrap());
    (dir, store)
}

fn key(id: &str) -> RecordingKey {
    RecordingKey::new("tenant-1", id).unwrap()
}

/// Frame `i` of a continuous sine.
fn sine_frame(freq: f64, amp: f64, i: usize) -> Frame {
    std::array::from_fn(|n| {
        let t = (i * FRAME_SAMPLES + n) as f64 / f64::from(SAMPLE_RATE);
        (amp * (2.0 * std::f64::consts::PI * freq * t).sin()).round() as i16
    })
}

fn marker(v: i16) -> Frame {
    [v; FRAME_SAMPLES]
}

/// Left and right channels of a WAV file, checked to be 8 kHz stereo 16-bit.
fn read_stereo(path: &std::path::Path) -> (Vec<i16>, Vec<i16>) {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16)
    );
    assert_eq!(spec.sample_format, hound::SampleFormat::Int);
    let all: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
    (
        all.iter().step_by(2).copied().collect(),
        all.iter().skip(1).step_by(2).copied().collect(),
    )
}

#[test]
fn customer_left_agent_right_with_metadata() {
    let (_d, store) = setup();
    let k = key("call-1");
    let mut rec = Recorder::start(store.clone(), k.clone(), RecorderConfig::default()).unwrap();
    for i in 0..100 {
        rec.push(Channel::Customer, &sine_frame(440.0, 8000.0, i))
            .unwrap();
        rec.push(Channel::Agent, &sine_frame(1000.0, 8000.0, i))
            .unwrap();
    }
    let meta = rec.finish().unwrap();
    assert_eq!(meta.duration, Duration::from_secs(2));
    assert_eq!(meta.size_bytes, HEADER_LEN + 2 * 8000 * 4);
    assert!(meta.paused_spans.is_empty());
    let path = store.path_for(&k);
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len() as u64, meta.size_bytes);
    assert_eq!(meta.sha256, <[u8; 32]>::from(Sha256::digest(&bytes)));
    assert_eq!(meta.sha256_hex().len(), 64);

    let (left, right) = read_stereo(&path);
    assert_eq!(left.len(), 16_000);
    let full = 8000.0f32 * 8000.0 / 2.0;
    assert!(tone_power(&left, 440.0) > 0.95 * full);
    assert!(tone_power(&left, 1000.0) < 1e-4 * full);
    assert!(tone_power(&right, 1000.0) > 0.95 * full);
    assert!(tone_power(&right, 440.0) < 1e-4 * full);
    // The tone is where it was pushed: sample-exact.
    assert_eq!(&left[1600..1760], &sine_frame(440.0, 8000.0, 10)[..]);
}

#[test]
fn jittery_legs_stay_aligned_frame_for_frame() {
    let (_d, store) = setup();
    let k = key("jitter");
    let mut rec = Recorder::start(store.clone(), k.clone(), RecorderConfig::default()).unwrap();
    // The agent's frames arrive in bursts of three, up to two frames late.
    let mut agent_next = 0i16;
    for i in 0..60i16 {
        rec.push(Channel::Customer, &marker(i + 1)).unwrap();
        if i % 3 == 2 {
            for _ in 0..3 {
                agent_next += 1;
                rec.push(Channel::Agent, &marker(-agent_next)).unwrap();
            }
        }
    }
    rec.finish().unwrap();
    let (left, right) = read_stereo(&store.path_for(&k));
    assert_eq!(left.len(), 60 * FRAME_SAMPLES);
    for slot in 0..60 {
        let v = slot as i16 + 1;
        assert_eq!(left[slot * FRAME_SAMPLES], v);
        assert_eq!(right[slot * FRAME_SAMPLES], -v, "slot {slot}");
    }
}

#[test]
fn a_silent_leg_is_padded_and_buffering_stays_bounded() {
    let (_d, store) = setup();
    let k = key("one-sided");
    let mut rec = Recorder::start(store.clone(), k.clone(), RecorderConfig::default()).unwrap();
    for i in 0..50i16 {
        rec.push(Channel::Customer, &marker(i + 1)).unwrap();
        // At most three frames wait for the silent agent.
        assert_eq!(
            rec.duration(),
            Duration::from_millis(20 * (i.max(2) as u64 - 2))
        );
    }
    // The agent shows up late: its first frame goes into the next free slot.
    rec.push(Channel::Agent, &marker(-1)).unwrap();
    rec.push(Channel::Customer, &marker(51)).unwrap();
    let meta = rec.finish().unwrap();
    assert_eq!(meta.duration, Duration::from_millis(51 * 20));
    let (left, right) = read_stereo(&store.path_for(&k));
    for slot in 0..51 {
        assert_eq!(left[slot * FRAME_SAMPLES], slot as i16 + 1);
    }
    assert!(right[..47 * FRAME_SAMPLES].iter().all(|&s| s == 0));
    assert_eq!(
        right[47 * FRAME_SAMPLES],
        -1,
        "late agent frame in the first free slot"
    );
}

#[test]
fn pause_writes_silence_and_records_the_span() {
    let (_d, store) = setup();
    let k = key("pci");
    let mut rec = Recorder::start(store.clone(), k.clone(), RecorderConfig::default()).unwrap();
    for i in 0..150 {
        if i == 50 {
            rec.pause();
            assert!(rec.is_paused());
        }
        if i == 100 {
            rec.resume();
        }
        rec.push(Channel::Customer, &sine_frame(700.0, 5000.0, i))
            .unwrap();
        rec.push(Channel::Agent, &sine_frame(1300.0, 5000.0, i))
            .unwrap();
    }
    rec.pause();
    rec.push(Channel::Agent, &sine_frame(1300.0, 5000.0, 150))
        .unwrap();
    let meta = rec.finish().unwrap();
    assert_eq!(
        meta.paused_spans,
        vec![
            PausedSpan {
                start_ms: 1000,
                end_ms: 2000
            },
            PausedSpan {
                start_ms: 3000,
                end_ms: 3020
            },
        ]
    );
    let (left, right) = read_stereo(&store.path_for(&k));
    let s = |ms: usize| ms * 8;
    assert!(left[s(1000)..s(2000)].iter().all(|&v| v == 0));
    assert!(right[s(1000)..s(2000)].iter().all(|&v| v == 0));
    assert!(right[s(3000)..].iter().all(|&v| v == 0));
    assert!(tone_power(&left[s(2000)..s(3000)], 700.0) > 5000.0 * 5000.0 / 2.0 * 0.95);
    assert!(tone_power(&right[s(0)..s(1000)], 1300.0) > 5000.0 * 5000.0 / 2.0 * 0.95);
}

#[test]
fn the_file_is_valid_while_it_grows_and_after_a_crash() {
    let (_d, store) = setup();
    let k = key("crash");
    let path = store.path_for(&k);
    let mut rec = Recorder::start(store.clone(), k.clone(), RecorderConfig::default()).unwrap();
    for i in 0..75 {
        rec.push(Channel::Customer, &sine_frame(500.0, 4000.0, i))
            .unwrap();
        rec.push(Channel::Agent, &sine_frame(900.0, 4000.0, i))
            .unwrap();
    }
    // 1.5 s pushed: the first second is on disk with a header that says so.
    let (left, _) = read_stereo(&path);
    assert_eq!(left.len(), 8000);
    // The process dies: nothing runs after this point.
    std::mem::forget(rec);
    // ... but suppose it had written 1001 more bytes before dying, the
    // last sample frame cut in half, without patching the header.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&vec![0u8; 1001])
        .unwrap();
    let duration = repair(&path).unwrap();
    // 32000 + 1000 whole bytes of 4-byte frames: 8250 frames.
    assert_eq!(duration, Duration::from_secs_f64(8250.0 / 8000.0));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), HEADER_LEN + 33_000);
    let (left, right) = read_stereo(&path);
    assert_eq!((left.len(), right.len()), (8250, 8250));
    assert!(tone_power(&left[..8000], 500.0) > 4000.0 * 4000.0 / 2.0 * 0.95);
    // Repairing again changes nothing; so does repairing through the store.
    assert_eq!(store.repair(&k).unwrap(), duration);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), HEADER_LEN + 33_000);
}

#[test]
fn a_dropped_recorder_still_leaves_a_valid_file() {
    let (_d, store) = setup();
    let k = key("dropped");
    let mut rec = Recorder::start(store.clone(), k.clone(), RecorderConfig::default()).unwrap();
    for i in 0..10 {
        rec.push(Channel::Customer, &marker(i + 1)).unwrap();
    }
    drop(rec);
    let (left, right) = read_stereo(&store.path_for(&k));
    assert_eq!(left.len(), 10 * FRAME_SAMPLES);
    assert_eq!(left[9 * FRAME_SAMPLES], 10);
    assert!(right.iter().all(|&s| s == 0));
}

#[test]
fn sync_on_flush_and_short_flush_interval() {
    let (_d, store) = setup();
    let k = key("synced");
    let cfg = RecorderConfig {
        flush_every_frames: 5,
        sync_on_flush: true,
        ..RecorderConfig::default()
    };
    let mut rec = Recorder::start(store.clone(), k.clone(), cfg).unwrap();
    for i in 0..12 {
        rec.push(Channel::Customer, &marker(i + 1)).unwrap();
        rec.push(Channel::Agent, &marker(-(i + 1))).unwrap();
    }
    let (left, _) = read_stereo(&store.path_for(&k));
    assert_eq!(left.len(), 10 * FRAME_SAMPLES, "two flushes of five frames");
    assert_eq!(rec.finish().unwrap().duration, Duration::from_millis(240));
}

#[test]
fn repair_refuses_what_is_not_a_wav() {
    let (d, _store) = setup();
    let p = d.path().join("notes.wav");
    std::fs::write(&p, b"hello, this is not audio at all").unwrap();
    assert!(matches!(repair(&p), Err(RecordError::NotWav(_))));
    std::fs::write(&p, b"RIFF").unwrap();
    assert!(matches!(repair(&p), Err(RecordError::NotWav(_))));
}

#[test]
fn store_create_open_range_delete_and_retention() {
    let (_d, store) = setup();
    let dyn_store: Arc<dyn RecordingStore> = store.clone();
    let (a, b) = (key("a"), RecordingKey::new("tenant-2", "b").unwrap());
    for k in [&a, &b] {
        let mut rec =
            Recorder::start(dyn_store.clone(), k.clone(), RecorderConfig::default()).unwrap();
        rec.push(Channel::Customer, &marker(3)).unwrap();
        rec.push(Channel::Agent, &marker(4)).unwrap();
        rec.finish().unwrap();
    }
    assert!(matches!(
        Recorder::start(dyn_store.clone(), a.clone(), RecorderConfig::default()),
        Err(RecordError::AlreadyExists)
    ));

    let whole = std::fs::read(store.path_for(&a)).unwrap();
    let mut r = store.open(&a, Some(40..48)).unwrap();
    assert_eq!((r.total_len, r.range.clone()), (whole.len() as u64, 40..48));
    let mut got = Vec::new();
    r.reader.read_to_end(&mut got).unwrap();
    assert_eq!(got, &whole[40..48]);
    // An open-ended range is clamped to the length.
    let mut r = store.open(&a, Some(600..u64::MAX)).unwrap();
    got.clear();
    r.reader.read_to_end(&mut got).unwrap();
    assert_eq!(got, &whole[600..]);
    assert!(matches!(
        store.open(&a, Some(10_000..10_010)),
        Err(RecordError::RangeNotSatisfiable { len: 684, .. })
    ));

    // Retention: make `a` old.
    let old = SystemTime::now() - Duration::from_secs(90 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(store.path_for(&a))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let cutoff = SystemTime::now() - Duration::from_secs(30 * 86_400);
    assert_eq!(store.list_older_than(cutoff).unwrap(), vec![a.clone()]);
    let later = SystemTime::now() + Duration::from_secs(60);
    assert_eq!(
        store.list_older_than(later).unwrap(),
        vec![a.clone(), b.clone()]
    );
    // Stray files in the root are not recordings.
    std::fs::write(store.root().join("tenant-1").join("x.tmp"), b"x").unwrap();
    std::fs::write(store.root().join("README"), b"x").unwrap();
    assert_eq!(store.list().unwrap(), vec![a.clone(), b.clone()]);

    store.delete(&a).unwrap();
    assert!(matches!(store.delete(&a), Err(RecordError::NotFound)));
    assert!(matches!(store.open(&a, None), Err(RecordError::NotFound)));
    assert_eq!(store.list().unwrap(), vec![b]);
}

#[test]
fn mono_keeps_the_customer_alone_without_lag() {
    let (_d, store) = setup();
    let k = key("message-1");
    let cfg = RecorderConfig {
        mono: true,
        flush_every_frames: 1,
        ..RecorderConfig::default()
    };
    let mut rec = Recorder::start(store.clone(), k.clone(), cfg).unwrap();
    for i in 0..5 {
        rec.push(Channel::Customer, &marker(i + 1)).unwrap();
        // Agent audio never reaches a mono file.
        rec.push(Channel::Agent, &marker(-100)).unwrap();
    }
    // Each customer frame is written at once (no waiting for a partner).
    assert_eq!(rec.duration(), Duration::from_millis(100));
    rec.pause();
    rec.push(Channel::Customer, &marker(9)).unwrap();
    rec.resume();
    let meta = rec.finish().unwrap();
    assert_eq!(meta.duration, Duration::from_millis(120));
    assert_eq!(meta.size_bytes, HEADER_LEN + 6 * 320);

    let mut r = hound::WavReader::open(store.path_for(&k)).unwrap();
    assert_eq!((r.spec().channels, r.spec().sample_rate), (1, 8000));
    let samples: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
    assert_eq!(samples.len(), 6 * FRAME_SAMPLES);
    for (i, frame) in samples.chunks(FRAME_SAMPLES).enumerate() {
        let want = if i < 5 { i as i16 + 1 } else { 0 };
        assert!(frame.iter().all(|s| *s == want), "frame {i}");
    }
}
