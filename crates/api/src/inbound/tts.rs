//! Text to speech for flows' `say` nodes, behind [`Tts`]. The offline
//! default is espeak-ng (the Debian package): the text goes in on stdin,
//! never as an argument, so no text can be taken for an option.

use omnivox_media::prompt::{ConvertOptions, Prompt};
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Longest text spoken at once (characters).
const MAX_TEXT_CHARS: usize = 2_000;
/// Longest synthesis before it is given up.
const SYNTH_TIMEOUT: Duration = Duration::from_secs(10);
/// Distinct texts kept decoded; the cache is emptied when it fills.
const CACHE_ENTRIES: usize = 256;
/// The voice when a node names none.
const DEFAULT_VOICE: &str = "en-us";

/// Speech on its way: the audio, or why there is none.
pub type Synthesis<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Prompt, String>> + Send + 'a>>;

/// A speech synthesizer.
pub trait Tts: Send + Sync {
    /// Speaks `text` with `voice` (the provider's default when `None`).
    fn synthesize<'a>(&'a self, text: &'a str, voice: Option<&'a str>) -> Synthesis<'a>;
}

/// espeak-ng, with a cache of what it already said.
#[derive(Default)]
pub struct Espeak {
    cache: Mutex<HashMap<(String, String), Prompt>>,
}

impl Espeak {
    fn cached(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Prompt>> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn speak(&self, text: &str, voice: &str) -> Result<Prompt, String> {
        let path = std::env::temp_dir().join(format!("omnivox-tts-{}.wav", uuid::Uuid::new_v4()));
        let result = tokio::time::timeout(SYNTH_TIMEOUT, run_espeak(text, voice, &path))
            .await
            .unwrap_or_else(|_| Err("espeak-ng took too long".into()));
        let wav = match result {
            Ok(()) => tokio::fs::read(&path).await.map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        let _ = tokio::fs::remove_file(&path).await;
        Prompt::convert(&wav?, &ConvertOptions::default()).map_err(|e| e.to_string())
    }
}

async fn run_espeak(text: &str, voice: &str, path: &std::path::Path) -> Result<(), String> {
    let mut child = tokio::process::Command::new("espeak-ng")
        .arg("-v")
        .arg(voice)
        .arg("-w")
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("espeak-ng not started (apt-get install espeak-ng): {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(text.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().await.map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "espeak-ng failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// A voice name espeak-ng could know: letters, digits, `-`, `_`, `+`.
fn valid_voice(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 40
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+'))
}

impl Tts for Espeak {
    fn synthesize<'a>(&'a self, text: &'a str, voice: Option<&'a str>) -> Synthesis<'a> {
        Box::pin(async move {
            let voice = voice.unwrap_or(DEFAULT_VOICE);
            if !valid_voice(voice) {
                return Err(format!("invalid voice {voice:?}"));
            }
            if text.trim().is_empty() || text.chars().count() > MAX_TEXT_CHARS {
                return Err(format!("text must be 1-{MAX_TEXT_CHARS} characters"));
            }
            let key = (voice.to_string(), text.to_string());
            if let Some(p) = self.cached().get(&key) {
                return Ok(p.clone());
            }
            let prompt = self.speak(text, voice).await?;
            let mut cache = self.cached();
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(key, prompt.clone());
            Ok(prompt)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn espeak_installed() -> bool {
        std::process::Command::new("espeak-ng")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    #[tokio::test]
    async fn speaks_text_as_8khz_audio_and_refuses_bad_voices() {
        let tts = Espeak::default();
        assert!(
            tts.synthesize("hello", Some("en;rm -rf"))
                .await
                .unwrap_err()
                .contains("invalid voice")
        );
        assert!(tts.synthesize("  ", None).await.is_err());
        if !espeak_installed() {
            eprintln!("espeak-ng missing: synthesis not checked");
            return;
        }
        // Text that looks like options is spoken, not obeyed.
        let p = tts
            .synthesize("-w /etc/passwd one two", None)
            .await
            .unwrap();
        let secs = p.duration().as_secs_f64();
        assert!((0.5..10.0).contains(&secs), "{secs} s");
        assert!(p.samples().iter().any(|s| s.unsigned_abs() > 1000));
        assert!(
            tts.synthesize("hello", Some("xx-nonexistent"))
                .await
                .is_err()
        );
    }
}
