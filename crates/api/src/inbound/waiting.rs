//! What a caller waiting in a queue hears: the queue's music (its
//! `music_prompt`, else the engine's hold music) and, every
//! `announcements.every_seconds` (the ACD's `Decision::Announce`), their
//! place in line, the estimated wait and the queue's comfort prompt, spoken
//! as one prompt after which the music starts again.

use super::tts::Tts;
use crate::routes::queues::{Announcements, QueueSettings, settings_of};
use crate::state::AppState;
use chrono::TimeDelta;
use omnivox_domain::TenantId;
use omnivox_domain::ids::QueueId;
use omnivox_media::prompt::Prompt;
use omnivox_store::Scoped;
use std::time::Duration;

/// Silence between the parts of an announcement.
const GAP: Duration = Duration::from_millis(300);

/// The queue's settings as stored; `None` (logged) when they cannot be had.
pub(super) async fn settings(
    state: &AppState,
    tenant: TenantId,
    queue: QueueId,
) -> Option<QueueSettings> {
    let row = Scoped::new(state.store.reader(), tenant)
        .get_queue(queue.0)
        .await;
    match row
        .map_err(crate::error::ApiError::from)
        .and_then(|r| settings_of(&r))
    {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(tenant_id = %tenant, queue_id = %queue.0, error = %e,
                "queue settings unavailable");
            None
        }
    }
}

/// The queue's own music; `None` for the engine's hold music (also when the
/// prompt cannot be loaded, logged).
pub(super) async fn music(
    state: &AppState,
    tenant: TenantId,
    settings: &QueueSettings,
) -> Option<Prompt> {
    let name = settings.music_prompt.as_deref()?;
    prompt(state, tenant, name).await
}

/// What a waiting caller is told now: their place and wait as the queue's
/// announcements say, then its comfort prompt. `None` when there is nothing
/// to play.
pub(super) async fn announcement(
    state: &AppState,
    tts: &dyn Tts,
    tenant: TenantId,
    queue: QueueId,
    position: usize,
    ewt: Option<TimeDelta>,
) -> Option<Prompt> {
    let settings = settings(state, tenant, queue).await?;
    let mut parts = Vec::new();
    let callback = settings.callback_in_queue;
    for text in phrases(settings.announcements, callback, position, ewt) {
        match tts.synthesize(&text, None).await {
            Ok(p) => parts.push(p),
            Err(e) => tracing::warn!(queue_id = %queue.0, error = %e, "announcement not spoken"),
        }
    }
    if let Some(name) = &settings.comfort_prompt
        && let Some(p) = prompt(state, tenant, name).await
    {
        parts.push(p);
    }
    (!parts.is_empty()).then(|| Prompt::concat(&parts, GAP))
}

async fn prompt(state: &AppState, tenant: TenantId, name: &str) -> Option<Prompt> {
    match state.prompt_audio.load(state, tenant, name).await {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::warn!(tenant_id = %tenant, prompt = name, error = %e,
                "queue prompt not played");
            None
        }
    }
}

/// The sentences for a caller at `position` (1-based) with estimated wait
/// `ewt` (`None`: unknown, nobody is logged in; then the wait is not
/// mentioned rather than guessed), and how to ask for a `callback`.
fn phrases(
    a: Announcements,
    callback: bool,
    position: usize,
    ewt: Option<TimeDelta>,
) -> Vec<String> {
    let mut out = Vec::new();
    if a.position {
        out.push(if position <= 1 {
            "You are next in line.".to_owned()
        } else {
            format!("You are number {position} in line.")
        });
    }
    if a.ewt
        && let Some(wait) = ewt
    {
        let minutes = (wait.num_seconds() + 59) / 60;
        out.push(match minutes {
            ..=1 => "Your estimated wait is less than a minute.".to_owned(),
            2..=60 => format!("Your estimated wait is about {minutes} minutes."),
            _ => "Your estimated wait is more than an hour.".to_owned(),
        });
    }
    if callback {
        out.push(format!(
            "To be called back without losing your place, press {}.",
            super::CALLBACK_KEY
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both() -> Announcements {
        Announcements {
            position: true,
            ewt: true,
            every_seconds: Some(30),
        }
    }

    #[test]
    fn position_and_wait_in_words() {
        assert_eq!(
            phrases(both(), false, 1, Some(TimeDelta::seconds(45))),
            [
                "You are next in line.",
                "Your estimated wait is less than a minute."
            ]
        );
        assert_eq!(
            phrases(both(), false, 3, Some(TimeDelta::seconds(121))),
            [
                "You are number 3 in line.",
                "Your estimated wait is about 3 minutes."
            ]
        );
        assert_eq!(
            phrases(both(), false, 40, Some(TimeDelta::hours(2)))[1],
            "Your estimated wait is more than an hour."
        );
    }

    #[test]
    fn a_queue_with_callbacks_says_which_key_asks_for_one() {
        let said = phrases(both(), true, 2, None);
        assert_eq!(
            said,
            [
                "You are number 2 in line.",
                "To be called back without losing your place, press 1."
            ]
        );
    }

    #[test]
    fn only_what_the_queue_announces_and_no_guessed_wait() {
        let position_only = Announcements {
            ewt: false,
            ..both()
        };
        assert_eq!(
            phrases(position_only, false, 2, Some(TimeDelta::seconds(90))),
            ["You are number 2 in line."]
        );
        let wait_only = Announcements {
            position: false,
            ..both()
        };
        assert!(phrases(wait_only, false, 2, None).is_empty());
        assert_eq!(
            phrases(wait_only, false, 2, Some(TimeDelta::seconds(90))),
            ["Your estimated wait is about 2 minutes."]
        );
    }
}
