//! What a leg receives stays one RTP stream (SSRC, sequence, timestamps)
//! when its source changes: prompt -> bridged party -> hold music.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod relay_common;

use std::time::Duration;

use omnivox_media::codec::PT_PCMU;
use omnivox_media::prompt::{Player, Prompt};
use omnivox_media::relay::{MediaEvent, PlayEnd, PlayOptions};
use relay_common::*;

#[tokio::test]
async fn prompt_then_bridge_then_hold_music_is_one_stream() {
    let engine = engine();
    let mut a = Peer::new(0xa).await;
    let b = Peer::new(0xb).await;
    let mut call = bridged_call(&engine, &a, pcmu(None), &b, pcmu(None)).await;
    // B first hears a 100 ms prompt (5 frames) while A already talks.
    let prompt = Prompt::from_samples(vec![3000i16; 800]);
    call.session
        .play(
            call.b.id(),
            Box::new(Player::once(prompt)),
            PlayOptions::default(),
        )
        .await
        .unwrap();
    let to = call.a.local_rtp();
    let talker = tokio::spawn(async move {
        for n in 0..20u8 {
            a.send_audio(to, PT_PCMU, &tagged(0xa1, n)).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        a
    });
    wait_for(&mut call.events, |e| {
        matches!(
            e,
            MediaEvent::PlayEnded {
                reason: PlayEnd::Finished,
                ..
            }
        )
    })
    .await;
    let _a = talker.await.unwrap();
    // Then hold music replaces the bridged party.
    let music = Prompt::from_samples(vec![-2000i16; 1600]);
    call.session
        .play(
            call.b.id(),
            Box::new(Player::looping(music)),
            PlayOptions::default(),
        )
        .await
        .unwrap();
    let mut got = Vec::new();
    while got.len() < 40 {
        let Some(rx) = b.recv(Duration::from_millis(500)).await else {
            break;
        };
        got.push(rx);
    }
    call.session.stop_play(call.b.id()).await.unwrap();

    let is_party = |r: &Rx| r.payload[0] == 0xa1;
    let prompt_pkts = got.iter().take_while(|r| !is_party(r)).count();
    assert_eq!(prompt_pkts, 5, "prompt frames first");
    let party: Vec<_> = got.iter().filter(|r| is_party(r)).collect();
    assert!(
        party.len() >= 5,
        "the bridged party after the prompt: {}",
        party.len()
    );
    let music_start = got.iter().rposition(is_party).unwrap() + 1;
    assert!(got.len() - music_start >= 5, "hold music after the party");

    // One SSRC, consecutive sequence numbers, timestamps moving forward.
    let ssrc = got[0].ssrc;
    assert!(got.iter().all(|r| r.ssrc == ssrc));
    for w in got.windows(2) {
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1), "sequence gap");
        let dts = w[1].ts.wrapping_sub(w[0].ts);
        assert!((160..8000).contains(&dts), "timestamp step {dts}");
    }
    // Within one source the step is exactly a frame; each switch sets the
    // marker.
    let switch_to_party = prompt_pkts;
    for (i, r) in got.iter().enumerate() {
        let is_switch = i == 0 || i == switch_to_party || i == music_start;
        assert_eq!(r.marker, is_switch, "marker at {i}");
        if i > 0 && !is_switch {
            assert_eq!(r.ts.wrapping_sub(got[i - 1].ts), 160, "step at {i}");
        }
    }
}
