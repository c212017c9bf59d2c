//! Outbound legs: dialling agents and numbers (trunk choice, limits,
//! failover), and ending legs.

use super::*;
use crate::calls::model::CallerIdMode;

impl Actor {
    /// Sends the INVITE of an outbound leg in `leg`'s slot with our offer
    /// (`codec` first: the one of the party it will talk to). On an
    /// immediate failure returns the SIP code to report.
    pub(super) async fn dial(
        &mut self,
        leg: LegId,
        target: Endpoint,
        codec: Codec,
    ) -> Result<(), u16> {
        let (party, label, agent_id) = match &target {
            Endpoint::Agent { agent_id } => (
                Party::Agent {
                    agent_id: *agent_id,
                },
                format!("agent:{agent_id}"),
                Some(*agent_id),
            ),
            Endpoint::Number { number } => (
                Party::Number {
                    number: number.clone(),
                    trunks: self
                        .inner
                        .trunks
                        .for_tenant(self.tenant)
                        .into_iter()
                        .filter(|t| self.only_trunk.is_none_or(|id| t.trunk.id == id))
                        .collect(),
                },
                number.clone(),
                None,
            ),
        };
        // A supervisor's digits are reported, never passed to the parties.
        let options = LegOptions {
            forward_dtmf: leg != LegId::Monitor,
            ..LegOptions::default()
        };
        let mut io = self
            .new_leg(Direction::Outbound, party, label, options)
            .await?;
        io.agent_id = agent_id;
        io.offer = io.origin.describe(&LocalMedia::offer(
            io.media.local_rtp(),
            codec,
            SdpDirection::SendRecv,
        ));
        io.shown_body = Some(io.offer.clone());
        io.ring_deadline = Some(Instant::now() + self.ring_timeout);
        self.slots[slot_index(leg)] = Some(Box::new(io));
        self.send_invite(leg).await
    }

    /// Sends (or re-sends on the next trunk) the INVITE of `leg`.
    pub(super) async fn send_invite(&mut self, leg: LegId) -> Result<(), u16> {
        let Some(io) = self.slot_mut(leg) else {
            return Err(500);
        };
        io.dialog = None;
        io._route = None;
        io._permit = None;
        let seq = io.seq;
        let party = io.party.clone();
        let offer = io.offer.clone();
        let (opt, permit, trunk_id) = match party {
            Party::Caller => return Err(500),
            Party::Agent { agent_id } => (self.agent_invite(agent_id, offer).await?, None, None),
            Party::Number { number, trunks } => {
                let (opt, permit, trunk_id, rest) = self.trunk_invite(&number, trunks, offer)?;
                if let Some(Party::Number { trunks, .. }) =
                    self.slot_mut(leg).map(|io| &mut io.party)
                {
                    *trunks = rest;
                }
                (opt, Some(permit), Some(trunk_id))
            }
        };
        let states = self.inner.dialog_states.sender();
        let (dialog, handle) = match self.inner.dialogs.do_invite_async(opt, states) {
            Ok(x) => x,
            Err(e) => {
                tracing::info!(call = %self.id, error = %e, "INVITE not sent");
                return Err(503);
            }
        };
        let route = self.route_dialog(&dialog, seq);
        let Some(io) = self.slot_mut(leg) else {
            return Err(500);
        };
        io.dialog = Some(dialog);
        io._route = Some(route);
        io._permit = permit;
        if trunk_id.is_some() {
            io.trunk_id = trunk_id;
        }
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let outcome = match handle.await {
                Ok(Ok((_, Some(resp)))) if resp.status_code.code() < 300 => {
                    InviteOutcome::Answered(resp.body)
                }
                Ok(Ok((_, Some(resp)))) => InviteOutcome::Failed(resp.status_code.code()),
                Ok(Ok((_, None))) => InviteOutcome::Failed(408),
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "INVITE failed");
                    InviteOutcome::Failed(503)
                }
                Err(_) => InviteOutcome::Failed(500),
            };
            let _ = tx.send(Msg::InviteDone { seq, outcome });
        });
        Ok(())
    }

    pub(super) fn contact_uri(&self, user: &str) -> rsipstack::sip::Uri {
        sip_uri(user, &self.inner.local.to_string()).unwrap_or_default()
    }

    pub(super) async fn agent_invite(
        &self,
        agent: UserId,
        offer: Vec<u8>,
    ) -> Result<InviteOption, u16> {
        let user = match self.inner.directory.agent_user(self.tenant, agent).await {
            Ok(Some(u)) => u,
            Ok(None) => return Err(404),
            Err(e) => {
                tracing::warn!(error = %e, "agent lookup failed");
                return Err(503);
            }
        };
        // The most recently registered contact of the agent.
        let Some(binding) = self
            .inner
            .registrar
            .bindings(self.tenant, &user)
            .into_iter()
            .max_by_key(|b| b.registered_at)
        else {
            return Err(480);
        };
        let callee = rsipstack::sip::Uri::try_from(binding.contact.as_str()).map_err(|_| 480u16)?;
        let transport = match binding.transport {
            SipTransport::Udp => Transport::Udp,
            SipTransport::Tcp => Transport::Tcp,
        };
        let caller_user = self.caller_id.clone().unwrap_or_else(|| "omnivox".into());
        Ok(InviteOption {
            caller: self.contact_uri(&caller_user),
            callee,
            destination: Some(SipAddr {
                r#type: Some(transport),
                addr: binding.target.into(),
            }),
            content_type: Some("application/sdp".into()),
            offer: Some(offer),
            contact: self.contact_uri("omnivox"),
            call_id: Some(new_call_id()),
            headers: Some(vec![self.max_forwards_header()]),
            ..Default::default()
        })
    }

    #[allow(clippy::type_complexity)]
    pub(super) fn trunk_invite(
        &self,
        number: &str,
        trunks: Vec<Arc<TrunkEntry>>,
        offer: Vec<u8>,
    ) -> Result<(InviteOption, ChannelPermit, Uuid, Vec<Arc<TrunkEntry>>), u16> {
        let now = Instant::now();
        let mut rest = trunks.into_iter();
        let mut last_busy = None;
        for entry in rest.by_ref() {
            let permit = match entry.try_take(now) {
                Ok(p) => p,
                Err(busy) => {
                    tracing::info!(call = %self.id, trunk = %entry.trunk.name, reason = busy.text(), "trunk skipped");
                    last_busy = Some(busy);
                    continue;
                }
            };
            let t = &entry.trunk;
            let dialled = format!(
                "{}{}",
                t.tech_prefix,
                format_number(t.number_format, number)
            );
            let hostport = format!("{}:{}", t.host, t.port);
            let Ok(callee) = sip_uri(&dialled, &hostport) else {
                continue;
            };
            let cid = self.caller_id.clone();
            let cid_formatted = cid.as_deref().map(|c| format_number(t.number_format, c));
            let from_host = t.from_domain.clone().unwrap_or_else(|| t.host.clone());
            let from_user = match t.caller_id {
                CallerIdMode::Pai => t.from_user.clone(),
                _ => cid_formatted.clone().or_else(|| t.from_user.clone()),
            }
            .unwrap_or_else(|| "anonymous".into());
            let mut headers = vec![self.max_forwards_header()];
            if matches!(t.caller_id, CallerIdMode::Pai | CallerIdMode::Both)
                && let Some(c) = &cid
            {
                let pai = format!(
                    "<sip:{}@{}>",
                    format_number(NumberFormat::E164Plus, c),
                    from_host
                );
                headers.push(Header::Other("P-Asserted-Identity".into(), pai));
            }
            let credential = t.username.as_ref().map(|u| Credential {
                username: u.clone(),
                password: t.password.as_ref().map(|p| p.0.clone()).unwrap_or_default(),
                realm: None,
                auth_username: None,
            });
            let transport = match t.transport {
                SipTransport::Udp => Transport::Udp,
                SipTransport::Tcp => Transport::Tcp,
            };
            let destination = SipAddr {
                r#type: Some(transport),
                addr: rsipstack::sip::HostWithPort::try_from(hostport.as_str())
                    .map_err(|_| 500u16)?,
            };
            let opt = InviteOption {
                caller: sip_uri(&from_user, &from_host).map_err(|_| 500u16)?,
                callee,
                destination: Some(destination),
                content_type: Some("application/sdp".into()),
                offer: Some(offer),
                contact: self.contact_uri("omnivox"),
                call_id: Some(new_call_id()),
                credential,
                headers: Some(headers),
                ..Default::default()
            };
            let id = t.id;
            return Ok((opt, permit, id, rest.collect()));
        }
        // No trunk could take the call: never sent; congestion.
        tracing::info!(call = %self.id, reason = last_busy.map(|b| b.text()).unwrap_or("no trunk"), "outbound call not placed");
        Err(503)
    }

    pub(super) fn max_forwards_header(&self) -> Header {
        Header::MaxForwards(rsipstack::sip::MaxForwards::from(u32::from(
            self.max_forwards.saturating_sub(1),
        )))
    }

    /// Ends the IO of `leg` as the machine said.
    pub(super) fn end_leg(&mut self, leg: LegId, hangup: Hangup, method: EndMethod) {
        let Some(io) = self.slot_mut(leg) else { return };
        let dialog = io.dialog.take();
        match method {
            EndMethod::Cancel => {
                io.dialog = dialog.clone();
                io.cancel_deadline = Some(Instant::now() + CANCEL_GRACE);
                io.ring_deadline = None;
                if let Some(d) = dialog {
                    let call = self.id;
                    tokio::spawn(async move {
                        if let Err(e) = d.cancel().await {
                            tracing::info!(%call, error = %e, "CANCEL failed");
                        }
                    });
                }
                // The leg stays until its INVITE's final response.
                return;
            }
            EndMethod::Respond { code } => {
                if let Some(d) = dialog {
                    let _ = d.reject(Some(StatusCode::from(code)), None);
                    // The final response is retransmitted by the INVITE
                    // transaction until the ACK; leave the dialog that long.
                    let dialogs = self.inner.dialogs.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(REJECTED_DIALOG_LINGER).await;
                        dialogs.remove_dialog(&d.id());
                    });
                }
            }
            EndMethod::Bye => {
                if let Some(d) = dialog {
                    let dialogs = self.inner.dialogs.clone();
                    tokio::spawn(async move {
                        wait_for_ack(&d).await;
                        let _ = d.bye().await;
                        dialogs.remove_dialog(&d.id());
                    });
                }
            }
        }
        self.finish_leg(leg, hangup);
    }

    /// Records a leg that has ended and frees its slot and its dialog (a
    /// dialog still busy with our BYE or final response was taken out of
    /// the leg by [`Self::end_leg`] and is removed when that is done).
    pub(super) fn finish_leg(&mut self, leg: LegId, hangup: Hangup) {
        let Some(io) = self.slots[slot_index(leg)].take() else {
            return;
        };
        if let Some(d) = &io.dialog {
            self.inner.dialogs.remove_dialog(&d.id());
        }
        self.close_media_leg(io.media.id());
        self.record_media.push(io.media.id());
        self.records.push(LegRecord {
            leg,
            seq: io.seq,
            direction: io.direction,
            party: io.label,
            trunk_id: io.trunk_id,
            agent_id: io.agent_id,
            started_at: io.started,
            ringing_at: io.ringing,
            answered_at: io.answered,
            ended_at: Utc::now(),
            hangup,
            quality: None,
        });
    }
}

/// A Call-ID for a leg Omnivox starts: random and without a host part, so
/// it names neither the node nor the SIP library (topology hiding).
pub(super) fn new_call_id() -> String {
    rsipstack::transaction::make_uuid_v4()
}

/// How long a BYE waits for the ACK of our 2xx: the INVITE transaction's
/// own limit for it (64 x T1).
const ACK_WAIT: Duration = Duration::from_secs(32);

/// RFC 3261 §15: a UAS must not send BYE on a dialog before the ACK of its
/// 2xx arrives (or the transaction gives up on it); a caller hung up on in
/// that instant would otherwise see a BYE for a call it has not confirmed.
/// Our 2xx may itself still be on its way (the transaction sends it): the
/// wait covers the states before `WaitAck` too. Returns at once for a
/// confirmed or ended dialog.
async fn wait_for_ack(d: &InviteDialog) {
    let deadline = Instant::now() + ACK_WAIT;
    while Instant::now() < deadline {
        let state = d.state();
        if !(state.waiting_ack() || state.can_cancel()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
