//! Mixing with a distinct tone per participant: each output must contain
//! exactly the tones of the participants it should hear, measured by
//! Goertzel power per frequency, for conferences, listen, whisper, barge and
//! role switches mid-stream.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use omnivox_media::goertzel::tone_power;
use omnivox_media::mix::{MixError, Mixer, ParticipantId, Role};
use omnivox_media::{FRAME_SAMPLES, Frame, SAMPLE_RATE};

const AMP: f64 = 4000.0;
/// Ticks per measurement: 0.2 s, 1600 samples, so every tone below (a
/// multiple of 5 Hz) fits a whole number of cycles and leaks nothing.
const TICKS: usize = 10;

/// Each participant's tone.
fn freq_of(id: ParticipantId) -> f64 {
    300.0 + 250.0 * id as f64
}

fn frame(id: ParticipantId, tick: usize) -> Frame {
    std::array::from_fn(|n| {
        let t = (tick * FRAME_SAMPLES + n) as f64 / f64::from(SAMPLE_RATE);
        (AMP * (2.0 * std::f64::consts::PI * freq_of(id) * t).sin()).round() as i16
    })
}

/// Runs `ticks` ticks from `start`, every participant talking, and returns
/// what each of `ids` heard.
fn run(mixer: &mut Mixer, ids: &[ParticipantId], start: usize, ticks: usize) -> Vec<Vec<i16>> {
    let mut heard = vec![Vec::new(); ids.len()];
    let mut outputs: Vec<(ParticipantId, Frame)> =
        ids.iter().map(|&id| (id, [0; FRAME_SAMPLES])).collect();
    for tick in start..start + ticks {
        let frames: Vec<Frame> = ids.iter().map(|&id| frame(id, tick)).collect();
        let inputs: Vec<(ParticipantId, Option<&Frame>)> = ids
            .iter()
            .zip(&frames)
            .map(|(&id, f)| (id, Some(f)))
            .collect();
        mixer.mix(&inputs, &mut outputs).unwrap();
        for (h, (_, out)) in heard.iter_mut().zip(&outputs) {
            h.extend_from_slice(out);
        }
    }
    heard
}

/// Asserts `audio` holds the tones of exactly `expected` among `all`.
fn assert_hears(who: &str, audio: &[i16], all: &[ParticipantId], expected: &[ParticipantId]) {
    let full = (AMP * AMP / 2.0) as f32;
    for &id in all {
        let p = tone_power(audio, freq_of(id) as f32);
        if expected.contains(&id) {
            assert!(
                (p / full - 1.0).abs() < 0.01,
                "{who} should hear {id}: {}",
                p / full
            );
        } else {
            assert!(p < full * 1e-4, "{who} should not hear {id}: {}", p / full);
        }
    }
}

const CUSTOMER: ParticipantId = 1;
const AGENT: ParticipantId = 2;
const SUPERVISOR: ParticipantId = 3;
const THIRD: ParticipantId = 4;
const CALL: [ParticipantId; 3] = [CUSTOMER, AGENT, SUPERVISOR];

fn supervised(role: Role) -> Mixer {
    let mut m = Mixer::new();
    m.add(CUSTOMER, Role::Customer).unwrap();
    m.add(AGENT, Role::Agent).unwrap();
    m.add(SUPERVISOR, role).unwrap();
    m
}

#[test]
fn conference_everyone_hears_everyone_else() {
    let ids: Vec<ParticipantId> = (1..=6).collect();
    let mut m = Mixer::new();
    for &id in &ids {
        m.add(id, Role::Party).unwrap();
    }
    let heard = run(&mut m, &ids, 0, TICKS);
    for (i, &id) in ids.iter().enumerate() {
        let others: Vec<_> = ids.iter().copied().filter(|&o| o != id).collect();
        assert_hears(&format!("party {id}"), &heard[i], &ids, &others);
    }
}

#[test]
fn listen_hears_both_and_is_heard_by_nobody() {
    let heard = run(&mut supervised(Role::Listen), &CALL, 0, TICKS);
    assert_hears("customer", &heard[0], &CALL, &[AGENT]);
    assert_hears("agent", &heard[1], &CALL, &[CUSTOMER]);
    assert_hears("supervisor", &heard[2], &CALL, &[CUSTOMER, AGENT]);
}

#[test]
fn whisper_is_heard_by_the_agent_only() {
    let heard = run(&mut supervised(Role::Whisper), &CALL, 0, TICKS);
    assert_hears("customer", &heard[0], &CALL, &[AGENT]);
    assert_hears("agent", &heard[1], &CALL, &[CUSTOMER, SUPERVISOR]);
    assert_hears("supervisor", &heard[2], &CALL, &[CUSTOMER, AGENT]);
}

#[test]
fn barge_is_heard_by_both() {
    let heard = run(&mut supervised(Role::Barge), &CALL, 0, TICKS);
    assert_hears("customer", &heard[0], &CALL, &[AGENT, SUPERVISOR]);
    assert_hears("agent", &heard[1], &CALL, &[CUSTOMER, SUPERVISOR]);
    assert_hears("supervisor", &heard[2], &CALL, &[CUSTOMER, AGENT]);
}

#[test]
fn switching_roles_mid_stream() {
    let mut m = supervised(Role::Listen);
    let mut tick = 0;
    for (role, customer_hears, agent_hears) in [
        (Role::Listen, vec![AGENT], vec![CUSTOMER]),
        (Role::Whisper, vec![AGENT], vec![CUSTOMER, SUPERVISOR]),
        (
            Role::Barge,
            vec![AGENT, SUPERVISOR],
            vec![CUSTOMER, SUPERVISOR],
        ),
        (Role::Listen, vec![AGENT], vec![CUSTOMER]),
    ] {
        m.set_role(SUPERVISOR, role).unwrap();
        let heard = run(&mut m, &CALL, tick, TICKS);
        tick += TICKS;
        assert_hears(
            &format!("customer ({role:?})"),
            &heard[0],
            &CALL,
            &customer_hears,
        );
        assert_hears(&format!("agent ({role:?})"), &heard[1], &CALL, &agent_hears);
        assert_hears(
            &format!("supervisor ({role:?})"),
            &heard[2],
            &CALL,
            &[CUSTOMER, AGENT],
        );
    }
    // The supervisor leaves; the call goes on.
    assert_eq!(m.remove(SUPERVISOR), Ok(Role::Listen));
    let heard = run(&mut m, &[CUSTOMER, AGENT], tick, TICKS);
    assert_hears("customer", &heard[0], &CALL, &[AGENT]);
    assert_hears("agent", &heard[1], &CALL, &[CUSTOMER]);
}

#[test]
fn three_way_call_with_a_whispering_supervisor() {
    let all = [CUSTOMER, AGENT, SUPERVISOR, THIRD];
    let mut m = supervised(Role::Whisper);
    m.add(THIRD, Role::Party).unwrap();
    let heard = run(&mut m, &all, 0, TICKS);
    assert_hears("customer", &heard[0], &all, &[AGENT, THIRD]);
    assert_hears("agent", &heard[1], &all, &[CUSTOMER, SUPERVISOR, THIRD]);
    assert_hears("supervisor", &heard[2], &all, &[CUSTOMER, AGENT, THIRD]);
    assert_hears("third party", &heard[3], &all, &[CUSTOMER, AGENT]);
}

#[test]
fn silent_or_missing_inputs_add_nothing() {
    let mut m = supervised(Role::Barge);
    let mut out = [(CUSTOMER, [1; FRAME_SAMPLES]), (AGENT, [1; FRAME_SAMPLES])];
    let mut customer_heard = Vec::new();
    for tick in 0..TICKS {
        let agent = frame(AGENT, tick);
        // The supervisor sends nothing this tick; the customer is not listed.
        m.mix(&[(AGENT, Some(&agent)), (SUPERVISOR, None)], &mut out)
            .unwrap();
        customer_heard.extend_from_slice(&out[0].1);
        assert!(out[1].1.iter().all(|&s| s == 0), "agent hears silence");
    }
    assert_hears("customer", &customer_heard, &CALL, &[AGENT]);
    // Unknown ids are refused.
    assert_eq!(m.mix(&[(99, None)], &mut out), Err(MixError::Unknown(99)));
}
