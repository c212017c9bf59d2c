//! What legs do: dialog states, the end of INVITE transactions, and
//! in-dialog requests (re-INVITE, INFO, REFER).

use super::*;

impl Actor {
    pub(super) async fn on_dialog(&mut self, seq: u32, state: DialogState) {
        let Some(leg) = self.find_seq(seq) else {
            // A leg already finished: answer what still needs an answer.
            crate::calls::dialog_router::respond_stale(state).await;
            return;
        };
        let Some(io) = self.slot(leg) else { return };
        let inbound = io.direction == Direction::Inbound;
        let answered = io.answered.is_some();
        match state {
            DialogState::Early(_, resp) if !inbound => {
                let code = resp.status_code.code();
                // Early media we cannot use is treated as none.
                let has_sdp = !resp.body.is_empty() && {
                    let r = self.take_remote(leg, &resp.body).await;
                    if let Err(e) = &r {
                        tracing::info!(call = %self.id, ?leg, error = %e, "early media refused");
                    }
                    r.is_ok()
                };
                let now = Utc::now();
                if let Some(io) = self.slot_mut(leg)
                    && io.ringing.is_none()
                {
                    io.ringing = Some(now);
                }
                self.ringing_at.get_or_insert(now);
                self.feed_leg(leg, LegEvent::Provisional { code, has_sdp })
                    .await;
            }
            DialogState::Terminated(_, reason) => {
                let code = terminated_code(&reason);
                match (inbound, answered, code) {
                    // An inbound INVITE the caller gave up on.
                    (true, false, Some(487)) => self.feed_leg(leg, LegEvent::Cancel).await,
                    // The final response of an outbound INVITE comes with
                    // InviteDone; a BYE on an answered leg ends it here.
                    (_, true, None) | (true, _, None) => {
                        self.feed_leg(
                            leg,
                            LegEvent::Hangup {
                                cause: HangupCause::Normal,
                            },
                        )
                        .await
                    }
                    _ => {}
                }
            }
            DialogState::Confirmed(..) => self.on_ack(leg).await,
            DialogState::Updated(_, req, handle) => self.on_reinvite(leg, req, handle).await,
            DialogState::Info(_, req, handle) => self.on_info(leg, req, handle).await,
            DialogState::Refer(_, req, handle) => self.on_refer(leg, req, handle).await,
            DialogState::Options(_, _, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
            }
            DialogState::Notify(_, _, handle) | DialogState::Message(_, _, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
            }
            DialogState::Publish(_, _, handle) => {
                let _ = handle.reply(StatusCode::MethodNotAllowed).await;
            }
            _ => {}
        }
    }

    pub(super) async fn on_invite_done(&mut self, seq: u32, outcome: InviteOutcome) {
        let Some(leg) = self.find_seq(seq) else {
            return;
        };
        let cancelling = self
            .slot(leg)
            .is_some_and(|io| io.cancel_deadline.is_some());
        match outcome {
            InviteOutcome::Answered(body) => {
                let media = self.take_remote(leg, &body).await;
                if let Some(io) = self.slot_mut(leg) {
                    io.ring_deadline = None;
                }
                self.feed_leg(leg, LegEvent::Answer).await;
                let usable =
                    media.is_ok() && self.slot(leg).is_some_and(|io| io.negotiated.is_some());
                if !usable {
                    // Answered without media we can speak (or none at all):
                    // the call cannot go on.
                    tracing::info!(call = %self.id, ?leg, error = ?media.err(), "answer without usable media");
                    if leg == LegId::Monitor {
                        // Only the supervisor's leg is lost.
                        let _ = self.apply(CallEvent::MonitorStop).await;
                        return;
                    }
                    let _ = self
                        .apply(CallEvent::Hangup {
                            cause: HangupCause::Unavailable,
                        })
                        .await;
                }
            }
            InviteOutcome::Failed(code) => {
                let can_retry = !cancelling
                    && fails_over(code)
                    && matches!(
                        self.slot(leg).map(|io| &io.party),
                        Some(Party::Number { trunks, .. }) if !trunks.is_empty()
                    );
                if can_retry {
                    tracing::info!(call = %self.id, code, "trunk failed; trying the next one");
                    if self.send_invite(leg).await.is_ok() {
                        return;
                    }
                }
                let code = if cancelling { 487 } else { code };
                self.feed_leg(leg, LegEvent::Failure { sip_code: code })
                    .await;
                // A leg still in its slot after a failure has ended.
                if let Some(LegState::Ended(h)) = self.call.leg(leg).map(|l| l.state()) {
                    if self.slot(leg).is_some_and(|io| io.seq == seq) {
                        self.finish_leg(leg, h);
                    }
                } else if self.call.leg(leg).is_none() && self.slot(leg).is_some() {
                    self.finish_leg(leg, Hangup::from_sip(code));
                }
            }
        }
    }

    /// A re-INVITE (or UPDATE) from `leg`: its new description goes into
    /// the engine and is answered with ours; the other party is not
    /// involved. A phone putting us on hold (`sendonly`/`inactive`) is
    /// answered `recvonly`/`inactive`, its party hears hold music and is
    /// marked held until the phone resumes.
    pub(super) async fn on_reinvite(
        &mut self,
        leg: LegId,
        req: Request,
        handle: TransactionHandle,
    ) {
        let body = req.body.clone();
        if body.is_empty() {
            // An offerless re-INVITE: our offer, the answer in the ACK.
            let own = self.offer_in_answer(leg, leg);
            let headers = own.as_ref().map(|_| vec![content_type_sdp()]);
            let _ = handle.respond(StatusCode::OK, headers, own).await;
            return;
        }
        let was_hold = self
            .slot(leg)
            .and_then(|io| io.remote.as_ref())
            .is_some_and(|r| r.direction.is_hold());
        if let Err(e) = self.take_remote(leg, &body).await {
            tracing::info!(call = %self.id, ?leg, error = %e, "re-INVITE offer refused");
            let _ = handle.reply(StatusCode::NotAcceptableHere).await;
            return;
        }
        let hold = self
            .slot(leg)
            .and_then(|io| io.remote.as_ref())
            .is_some_and(|r| r.direction.is_hold());
        let reply = self.answer_body(leg);
        let headers = reply.as_ref().map(|_| vec![content_type_sdp()]);
        let _ = handle.respond(StatusCode::OK, headers, reply).await;
        if leg == LegId::Monitor {
            // A supervisor holding its phone holds nobody else.
            return;
        }
        let peer = other_leg(leg);
        if hold == was_hold || !self.call.leg(peer).is_some_and(|l| l.state().is_answered()) {
            return;
        }
        let state = self.call.leg(peer).map(|l| l.state());
        if hold {
            self.play_tone(peer, Tone::Hold).await;
            if state == Some(LegState::Answered) {
                self.feed_leg(peer, LegEvent::Hold).await;
            }
        } else {
            self.stop_tone(peer).await;
            if state == Some(LegState::Held) {
                self.feed_leg(peer, LegEvent::Resume).await;
            }
        }
    }

    /// SIP INFO: DTMF digits become notices and are relayed to the peer.
    pub(super) async fn on_info(&mut self, leg: LegId, req: Request, handle: TransactionHandle) {
        let digit = parse_dtmf_info(&req);
        let _ = handle.reply(StatusCode::OK).await;
        let Some(digit) = digit else { return };
        self.publish_notice(CallNotice::Dtmf {
            tenant_id: self.tenant,
            call_id: self.id,
            leg,
            digit,
        });
        if leg == LegId::Monitor {
            // A supervisor's digits are not the parties' business.
            return;
        }
        let peer = other_leg(leg);
        let Some(io) = self.slot(peer).filter(|io| io.answered.is_some()) else {
            return;
        };
        if io.negotiated.is_some_and(|n| n.telephone_event.is_some()) {
            let _ = self.send_digits(peer, &digit.to_string()).await;
        } else if let Some(d) = io.dialog.clone() {
            tokio::spawn(send_dtmf(d, digit.to_string()));
        }
    }

    /// REFER from a phone: a blind transfer of the other party to the
    /// Refer-To target; the referrer leaves.
    pub(super) async fn on_refer(&mut self, leg: LegId, req: Request, handle: TransactionHandle) {
        let target = req
            .headers
            .iter()
            .find_map(|h| match h {
                Header::ReferTo(r) => Some(r.value().to_string()),
                _ => None,
            })
            .and_then(|v| self.refer_target(&v));
        let Some(to) = target else {
            let _ = handle.reply(StatusCode::BadRequest).await;
            return;
        };
        let _ = handle.reply(StatusCode::Accepted).await;
        // The 202 goes out from the dialog's own task; give it a head start
        // so the NOTIFY does not overtake it. The subscription ends at once:
        // the referrer leaves the call with the BYE that follows.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let dialog = self.slot(leg).and_then(|io| io.dialog.clone());
        if let Some(d) = dialog {
            let _ = tokio::time::timeout(
                IN_DIALOG_TIMEOUT,
                d.notify_refer(StatusCode::Trying, "terminated;reason=noresource"),
            )
            .await;
        }
        let result = self
            .run_command(CallCommand::BlindTransfer { leaving: leg, to })
            .await;
        if let Err(e) = result {
            tracing::info!(call = %self.id, error = %e, "REFER not performed");
        }
    }

    /// The Refer-To URI's user as a transfer target: an agent of this
    /// tenant registered under that name, else a phone number.
    pub(super) fn refer_target(&self, value: &str) -> Option<Endpoint> {
        let inner = value.trim().trim_start_matches('<');
        let inner = inner.split(['>', '?', ';']).next()?;
        let uri = rsipstack::sip::Uri::try_from(inner).ok()?;
        let user = uri.user()?.to_string();
        if let Some(agent_id) = self.inner.registrar.agent_of(self.tenant, &user) {
            return Some(Endpoint::Agent { agent_id });
        }
        normalize_number(&user).map(|number| Endpoint::Number { number })
    }
}

/// The digit of an INFO with `application/dtmf-relay` (`Signal=5`) or
/// `application/dtmf` (`5`).
pub(super) fn parse_dtmf_info(req: &Request) -> Option<char> {
    let ct = req.headers.iter().find_map(|h| match h {
        Header::ContentType(c) => Some(c.value().to_ascii_lowercase()),
        _ => None,
    })?;
    let text = std::str::from_utf8(&req.body).ok()?;
    let raw = if ct.starts_with("application/dtmf-relay") {
        text.lines()
            .find_map(|l| {
                let (k, v) = l.split_once('=')?;
                k.trim().eq_ignore_ascii_case("signal").then(|| v.trim())
            })?
            .to_string()
    } else if ct.starts_with("application/dtmf") {
        text.trim().to_string()
    } else {
        return None;
    };
    let mut chars = raw.chars();
    let c = chars.next()?.to_ascii_uppercase();
    let valid =
        chars.next().is_none() && (c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D'));
    valid.then_some(c)
}

/// Sends each digit as an INFO (`application/dtmf-relay`, 160 ms).
pub(super) async fn send_dtmf(dialog: InviteDialog, digits: String) {
    for c in digits.chars() {
        let body = format!("Signal={c}\r\nDuration=160\r\n").into_bytes();
        let headers = vec![Header::ContentType(ContentType::new(
            "application/dtmf-relay",
        ))];
        let r =
            tokio::time::timeout(IN_DIALOG_TIMEOUT, dialog.info(Some(headers), Some(body))).await;
        if !matches!(r, Ok(Ok(Some(_)))) {
            tracing::info!("DTMF INFO not answered");
            return;
        }
    }
}
