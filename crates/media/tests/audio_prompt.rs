//! Prompt conversion: real WAV files (written by hound, or by hand for
//! G.711 and broken files) come out as 8 kHz mono at the right frequency
//! and level, and every kind of bad upload gets its own error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::f64::consts::PI;
use std::io::Cursor;

use audio_codec::Encoder;
use audio_codec::pcma::PcmaEncoder;
use audio_codec::pcmu::PcmuEncoder;
use omnivox_media::goertzel::tone_power;
use omnivox_media::prompt::{ConvertOptions, Player, Prompt, PromptError};
use omnivox_media::{FRAME_SAMPLES, Frame, FrameSource};

/// Writes a WAV with hound; `sample(frame, channel)` gives values in ±1.
fn hound_wav(
    rate: u32,
    channels: u16,
    bits: u16,
    float: bool,
    seconds: f64,
    sample: impl Fn(usize, u16) -> f64,
) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    };
    let mut cur = Cursor::new(Vec::new());
    {
        let mut w = hound::WavWriter::new(&mut cur, spec).unwrap();
        let frames = (seconds * f64::from(rate)).round() as usize;
        for i in 0..frames {
            for c in 0..channels {
                let v = sample(i, c);
                match (float, bits) {
                    (true, _) => w.write_sample(v as f32).unwrap(),
                    (false, 8) => w.write_sample((v * 127.0).round() as i8).unwrap(),
                    (false, 16) => w.write_sample((v * 32_767.0).round() as i16).unwrap(),
                    (false, 24) => w.write_sample((v * 8_388_607.0).round() as i32).unwrap(),
                    (false, _) => w
                        .write_sample((v * 2_147_483_647.0).round() as i32)
                        .unwrap(),
                }
            }
        }
        w.finalize().unwrap();
    }
    cur.into_inner()
}

fn sine_at(freq: f64, rate: u32, amp: f64) -> impl Fn(usize, u16) -> f64 {
    move |i, _| amp * (2.0 * PI * freq * i as f64 / f64::from(rate)).sin()
}

/// A canonical WAV header for hand-made files.
fn raw_wav(tag: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
    let block = channels * bits / 8;
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&tag.to_le_bytes());
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    v.extend_from_slice(&block.to_le_bytes());
    v.extend_from_slice(&bits.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(data);
    v
}

/// Frequency from zero crossings over the middle of the signal.
fn zero_crossing_freq(x: &[i16]) -> f64 {
    let mid = &x[400..x.len() - 400];
    let crossings = mid.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    crossings as f64 / 2.0 / (mid.len() as f64 / 8000.0)
}

fn rms_db(x: &[i16], reference: f64) -> f64 {
    let mid = &x[400..x.len() - 400];
    let ms = mid.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / mid.len() as f64;
    20.0 * (ms.sqrt() / reference).log10()
}

/// Checks a converted 1 s (or longer) prompt holds `freq` at `amp` (±1 scale).
fn assert_tone(p: &Prompt, seconds: f64, freq: f64, amp: f64) {
    let expected_len = (seconds * 8000.0).round() as usize;
    assert!(p.len().abs_diff(expected_len) <= 1, "{} samples", p.len());
    let f = zero_crossing_freq(p.samples());
    assert!(
        (f - freq).abs() < 2.0,
        "measured {f:.1} Hz, expected {freq}"
    );
    let db = rms_db(p.samples(), amp * 32_768.0 / 2f64.sqrt());
    assert!(db.abs() < 0.2, "level off by {db:.2} dB");
    // And nothing much but that tone.
    let s = &p.samples()[400..p.len() - 400];
    let tone = f64::from(tone_power(s, freq as f32));
    let all = s.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / s.len() as f64;
    assert!(tone / all > 0.99, "tone share {}", tone / all);
}

#[test]
fn stereo_44k1_sine_comes_out_at_8k_mono() {
    let bytes = hound_wav(44_100, 2, 16, false, 1.0, sine_at(1_000.0, 44_100, 0.5));
    let p = Prompt::convert(&bytes, &ConvertOptions::default()).unwrap();
    assert_tone(&p, 1.0, 1_000.0, 0.5);
}

#[test]
fn mono_16k_sine_comes_out_at_8k() {
    let bytes = hound_wav(16_000, 1, 16, false, 1.5, sine_at(440.0, 16_000, 0.3));
    let p = Prompt::convert(&bytes, &ConvertOptions::default()).unwrap();
    assert_tone(&p, 1.5, 440.0, 0.3);
    assert_eq!(p.duration().as_millis(), 1500);
}

#[test]
fn every_sample_format_converts() {
    let cases: [(u32, u16, u16, bool); 7] = [
        (8_000, 1, 8, false),
        (22_050, 1, 24, false),
        (48_000, 2, 32, false),
        (32_000, 1, 32, true),
        (11_025, 4, 16, false),
        (96_000, 8, 24, false),
        (8_000, 2, 16, false),
    ];
    for (rate, ch, bits, float) in cases {
        let bytes = hound_wav(rate, ch, bits, float, 1.0, sine_at(750.0, rate, 0.4));
        let p = Prompt::convert(&bytes, &ConvertOptions::default())
            .unwrap_or_else(|e| panic!("{rate} Hz {ch} ch {bits} bit float={float}: {e}"));
        // 8-bit audio has a ~-50 dB noise floor: only check the tone.
        assert_tone(&p, 1.0, 750.0, 0.4);
    }
}

#[test]
fn downmix_is_the_mean_of_the_channels() {
    let rate = 48_000;
    let bytes = hound_wav(rate, 2, 16, false, 1.0, |i, c| {
        let f = if c == 0 { 600.0 } else { 1_400.0 };
        0.6 * (2.0 * PI * f * i as f64 / f64::from(rate)).sin()
    });
    let p = Prompt::convert(&bytes, &ConvertOptions::default()).unwrap();
    let s = &p.samples()[400..7_600];
    for f in [600.0f32, 1_400.0] {
        let a = (2.0 * tone_power(s, f)).sqrt() / 32_768.0;
        assert!((a - 0.3).abs() < 0.005, "{f} Hz at amplitude {a}");
    }
}

#[test]
fn mu_law_and_a_law_wavs_convert() {
    let pcm: Vec<i16> = (0..8_000)
        .map(|i| (0.5 * 32_767.0 * (2.0 * PI * 1_000.0 * f64::from(i) / 8_000.0).sin()) as i16)
        .collect();
    let mut mu = vec![0u8; pcm.len()];
    PcmuEncoder::new().encode_into(&pcm, &mut mu).unwrap();
    let mut al = vec![0u8; pcm.len()];
    PcmaEncoder::new().encode_into(&pcm, &mut al).unwrap();
    for (tag, data) in [(7u16, mu), (6, al)] {
        let p = Prompt::convert(
            &raw_wav(tag, 1, 8_000, 8, &data),
            &ConvertOptions::default(),
        )
        .unwrap();
        assert_tone(&p, 1.0, 1_000.0, 0.5);
    }
}

#[test]
fn a_converted_prompt_plays_and_is_stored_as_8k_mono() {
    let bytes = hound_wav(44_100, 2, 16, false, 0.5, sine_at(500.0, 44_100, 0.25));
    let p = Prompt::convert(&bytes, &ConvertOptions::default()).unwrap();
    assert_eq!(p.len(), 4_000);

    // Stored format: hound reads it as 8 kHz mono 16-bit.
    let stored = p.to_wav();
    let mut r = hound::WavReader::new(Cursor::new(&stored)).unwrap();
    assert_eq!(
        (
            r.spec().channels,
            r.spec().sample_rate,
            r.spec().bits_per_sample
        ),
        (1, 8_000, 16)
    );
    let back: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
    assert_eq!(back, p.samples());
    assert_eq!(Prompt::from_stored_wav(&stored).unwrap(), p);
    assert_eq!(
        Prompt::from_stored_wav(&bytes),
        Err(PromptError::NotStoredFormat)
    );

    // Played once: 25 frames, the audio exactly, then the end.
    let mut player = Player::once(p.clone());
    let mut played = Vec::new();
    let mut f: Frame = [0; FRAME_SAMPLES];
    while player.next_frame(&mut f) {
        played.extend_from_slice(&f);
    }
    assert_eq!(played, p.samples());
    // Looped: still the tone after ten repeats, with no gap at the seam.
    let mut player = Player::looping(p.clone());
    let mut looped = Vec::new();
    for _ in 0..260 {
        assert!(player.next_frame(&mut f));
        looped.extend_from_slice(&f);
    }
    assert_eq!(&looped[4_000..8_000], p.samples());
    assert_eq!(&looped[40_000..41_600], &p.samples()[..1_600]);
}

#[test]
fn content_above_the_new_nyquist_is_filtered_not_aliased() {
    // 5 kHz and 6.5 kHz would fold to 3 kHz and 1.5 kHz without the low-pass.
    for (rate, f) in [(44_100u32, 5_000.0), (48_000, 6_500.0), (16_000, 4_600.0)] {
        let bytes = hound_wav(rate, 1, 16, false, 1.0, sine_at(f, rate, 0.5));
        let p = Prompt::convert(&bytes, &ConvertOptions::default()).unwrap();
        let db = rms_db(p.samples(), 0.5 * 32_768.0 / 2f64.sqrt());
        assert!(db < -60.0, "{f} Hz from {rate} Hz left at {db:.1} dB");
    }
}

fn err(bytes: &[u8]) -> PromptError {
    Prompt::convert(bytes, &ConvertOptions::default()).unwrap_err()
}

#[test]
fn bad_uploads_get_their_own_error() {
    let good = hound_wav(16_000, 1, 16, false, 2.0, sine_at(440.0, 16_000, 0.3));

    assert_eq!(err(b""), PromptError::NotWav);
    assert_eq!(
        err(b"Hello, I am a text file, not a recording."),
        PromptError::NotWav
    );
    assert_eq!(
        err(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01"),
        PromptError::NotWav
    );
    let mut avi = good.clone();
    avi[8..12].copy_from_slice(b"AVI ");
    assert_eq!(err(&avi), PromptError::NotWav);

    // Cut in the middle of the audio.
    let cut = &good[..good.len() / 2];
    assert!(
        matches!(
            err(cut),
            PromptError::Truncated {
                declared: 64_000,
                ..
            }
        ),
        "{:?}",
        err(cut)
    );
    // Cut inside the fmt chunk, and just after it.
    assert!(matches!(err(&good[..30]), PromptError::Corrupt(_)));
    assert_eq!(err(&good[..36]), PromptError::Corrupt("no data chunk"));
    // A data chunk with nothing in it.
    assert_eq!(err(&raw_wav(1, 1, 8_000, 16, &[])), PromptError::Empty);
    // Too long for the configured limit, refused before decoding.
    let short = ConvertOptions { max_seconds: 1 };
    assert!(matches!(
        Prompt::convert(&good, &short),
        Err(PromptError::TooLong { max_seconds: 1, .. })
    ));
    // Encodings and shapes we do not take.
    assert_eq!(
        err(&raw_wav(0x55, 1, 8_000, 16, &[0; 64])),
        PromptError::UnsupportedEncoding(0x55)
    );
    assert_eq!(
        err(&raw_wav(2, 1, 8_000, 16, &[0; 64])),
        PromptError::UnsupportedEncoding(2)
    );
    assert!(matches!(
        err(&raw_wav(1, 1, 8_000, 12, &[0; 64])),
        PromptError::UnsupportedBits { bits: 12, .. }
    ));
    assert!(matches!(
        err(&raw_wav(6, 1, 8_000, 16, &[0; 64])),
        PromptError::UnsupportedBits { bits: 16, .. }
    ));
    assert_eq!(
        err(&raw_wav(1, 0, 8_000, 16, &[0; 64])),
        PromptError::UnsupportedChannels(0)
    );
    assert_eq!(
        err(&raw_wav(1, 9, 8_000, 16, &[0; 72])),
        PromptError::UnsupportedChannels(9)
    );
    assert_eq!(
        err(&raw_wav(1, 1, 0, 16, &[0; 64])),
        PromptError::UnsupportedSampleRate(0)
    );
    assert_eq!(
        err(&raw_wav(1, 1, 1_000_000, 16, &[0; 64])),
        PromptError::UnsupportedSampleRate(1_000_000)
    );
    // A header whose block alignment contradicts the format.
    let mut bad_align = raw_wav(1, 2, 8_000, 16, &[0; 64]);
    bad_align[32..34].copy_from_slice(&3u16.to_le_bytes());
    assert!(matches!(err(&bad_align), PromptError::Corrupt(_)));
    // Float samples that are not numbers.
    let mut nan = Vec::new();
    for v in [0.1f32, f32::NAN, 0.2, 0.3] {
        nan.extend_from_slice(&v.to_le_bytes());
    }
    assert_eq!(
        err(&raw_wav(3, 1, 8_000, 32, &nan)),
        PromptError::InvalidSamples
    );

    // Every error has a message and a stable code for the API.
    for e in [
        PromptError::NotWav,
        PromptError::Empty,
        PromptError::Corrupt("x"),
    ] {
        assert!(!e.to_string().is_empty());
        assert!(e.code().chars().all(|c| c.is_ascii_lowercase() || c == '_'));
    }
}

#[test]
fn streaming_data_size_reads_to_the_end_and_odd_chunks_are_skipped() {
    let pcm: Vec<u8> = (0..8_000i32)
        .flat_map(|i| {
            let v = (0.3 * 32_767.0 * (2.0 * PI * 300.0 * f64::from(i) / 8_000.0).sin()) as i16;
            v.to_le_bytes()
        })
        .collect();
    let mut v = raw_wav(1, 1, 8_000, 16, &pcm);
    // An odd-sized LIST chunk (with its pad byte) before the data.
    let list = b"LIST\x03\0\0\0abc\0";
    v.splice(36..36, list.iter().copied());
    // The data size a streaming encoder writes when it cannot seek back.
    let at = 36 + list.len() + 4;
    v[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let p = Prompt::convert(&v, &ConvertOptions::default()).unwrap();
    assert_tone(&p, 1.0, 300.0, 0.3);
}
