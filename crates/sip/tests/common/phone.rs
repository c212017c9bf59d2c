//! A raw agent phone on 127.0.0.1 for media tests: it registers with
//! digest, answers Omnivox's INVITEs and re-INVITEs itself (PCMU with
//! telephone-event), and has a real RTP socket: every packet that arrives
//! is kept with its source, and it sends a 1 kHz PCMU tone every 20 ms
//! while it is allowed to (not while it answered `recvonly`).

use super::{RawClient, header, headers, status};
use omnivox_sip::DigestAlgorithm;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// One RTP packet the phone received.
#[derive(Clone, Debug)]
pub struct RtpIn {
    pub at: Instant,
    pub from: SocketAddr,
    pub pt: u8,
    pub payload: Vec<u8>,
}

pub struct RawPhone {
    pub client: RawClient,
    pub rtp: Arc<UdpSocket>,
    pub received: Arc<Mutex<Vec<RtpIn>>>,
    /// Where the phone sends RTP (Omnivox's address from the offer).
    remote: Arc<Mutex<Option<SocketAddr>>>,
    /// Send the tone (a budget of packets: `u64::MAX` for ever).
    budget: Arc<AtomicU64>,
    sending: Arc<AtomicBool>,
    pub sent: Arc<AtomicU64>,
    /// The INVITE that set up the call (for the BYE's headers).
    pub invite: Option<String>,
    tag: String,
    /// Offer and accept telephone-event (else digits go in band).
    pub te: bool,
    /// Payloads to send before going back to the tone.
    queue: Arc<Mutex<VecDeque<Vec<u8>>>>,
    cseq: u32,
}

/// 20 ms of `samples` as mu-law.
fn ulaw(samples: &[i16]) -> Vec<u8> {
    let mut out = vec![0u8; samples.len()];
    omnivox_media::codec::Codec::Pcmu.encode(samples, &mut out);
    out
}

fn rtp_packet(seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// The c= address and m=audio port of an SDP body.
pub fn sdp_media(body: &str) -> Option<SocketAddr> {
    let ip = body
        .lines()
        .find_map(|l| l.trim().strip_prefix("c=IN IP4 "))?
        .trim();
    let port = body
        .lines()
        .find_map(|l| l.trim().strip_prefix("m=audio "))?
        .split(' ')
        .next()?;
    format!("{ip}:{port}").parse().ok()
}

/// The body of a SIP message.
pub fn body(msg: &str) -> &str {
    msg.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("")
}

impl RawPhone {
    pub async fn new(server: SocketAddr) -> Self {
        let client = RawClient::new(server).await;
        let rtp = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let phone = Self {
            client,
            rtp,
            received,
            remote: Arc::new(Mutex::new(None)),
            budget: Arc::new(AtomicU64::new(u64::MAX)),
            sending: Arc::new(AtomicBool::new(true)),
            sent: Arc::new(AtomicU64::new(0)),
            invite: None,
            tag: format!("phone{}", std::process::id()),
            te: true,
            queue: Arc::new(Mutex::new(VecDeque::new())),
            cseq: 0,
        };
        phone.spawn_rtp();
        phone
    }

    pub fn rtp_addr(&self) -> SocketAddr {
        self.rtp.local_addr().unwrap()
    }

    fn spawn_rtp(&self) {
        let (sock, received) = (self.rtp.clone(), self.received.clone());
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            while let Ok((n, from)) = sock.recv_from(&mut buf).await {
                if n < 12 {
                    continue;
                }
                received.lock().unwrap().push(RtpIn {
                    at: Instant::now(),
                    from,
                    pt: buf[1] & 0x7f,
                    payload: buf[12..n].to_vec(),
                });
            }
        });
        let (sock, remote, budget, sending, sent, queue) = (
            self.rtp.clone(),
            self.remote.clone(),
            self.budget.clone(),
            self.sending.clone(),
            self.sent.clone(),
            self.queue.clone(),
        );
        tokio::spawn(async move {
            // 1 kHz: a period of 8 samples.
            let tone: Vec<i16> = (0..160)
                .map(|i| (8000.0 * (i as f32 * std::f32::consts::TAU / 8.0).sin()) as i16)
                .collect();
            let wave = ulaw(&tone);
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            let (mut seq, mut ts) = (1u16, 160u32);
            loop {
                tick.tick().await;
                let to = *remote.lock().unwrap();
                let Some(to) = to else { continue };
                if !sending.load(Ordering::Relaxed)
                    || sent.load(Ordering::Relaxed) >= budget.load(Ordering::Relaxed)
                {
                    continue;
                }
                let next = queue.lock().unwrap().pop_front();
                let payload = next.as_deref().unwrap_or(&wave);
                if sock
                    .send_to(&rtp_packet(seq, ts, 0x1234_5678, payload), to)
                    .await
                    .is_err()
                {
                    break;
                }
                sent.fetch_add(1, Ordering::Relaxed);
                seq = seq.wrapping_add(1);
                ts = ts.wrapping_add(160);
            }
        });
    }

    /// Sends `digit` in band: 200 ms of its two tones, then 200 ms of
    /// silence, then the usual tone again.
    pub fn play_digit(&self, digit: char) {
        let (lo, hi) = match digit {
            '1' => (697.0, 1209.0),
            '5' => (770.0, 1336.0),
            '7' => (852.0, 1209.0),
            other => panic!("no tones for {other}"),
        };
        let mut q = self.queue.lock().unwrap();
        let mut n = 0u32;
        for _ in 0..10 {
            let frame: Vec<i16> = (0..160)
                .map(|_| {
                    let t = n as f32 / 8000.0;
                    n += 1;
                    let tau = std::f32::consts::TAU;
                    (6000.0 * ((tau * lo * t).sin() + (tau * hi * t).sin())) as i16
                })
                .collect();
            q.push_back(ulaw(&frame));
        }
        for _ in 0..10 {
            q.push_back(ulaw(&[0i16; 160]));
        }
    }

    /// Sends at most `n` more packets from now on.
    pub fn stop_sending_after(&self, n: u64) {
        self.budget
            .store(self.sent.load(Ordering::Relaxed) + n, Ordering::Relaxed);
    }

    /// Registers `user@domain` with this phone's SIP address as contact.
    pub async fn register(&self, user: &str, domain: &str, password: &str) {
        let contact = format!(
            "Contact: <sip:{user}@127.0.0.1:{}>\r\nExpires: 600\r\n",
            self.client.port()
        );
        let resp = self
            .client
            .register(user, domain, password, DigestAlgorithm::Md5, 1, &contact)
            .await;
        assert_eq!(status(&resp), 200, "{resp}");
    }

    /// The next request `method` within `secs` (other traffic is skipped),
    /// with its source.
    pub async fn next_request(&self, method: &str, secs: u64) -> (String, SocketAddr) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        let mut buf = vec![0u8; 65_536];
        loop {
            let (n, from) =
                tokio::time::timeout_at(deadline, self.client.socket.recv_from(&mut buf))
                    .await
                    .unwrap_or_else(|_| panic!("no {method} within {secs} s"))
                    .unwrap();
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            if msg.starts_with(&format!("{method} ")) {
                return (msg, from);
            }
        }
    }

    /// A response to `req` with our To tag, and an SDP body when given.
    fn response(&self, req: &str, code: &str, sdp: Option<&str>) -> String {
        let mut out = format!("SIP/2.0 {code}\r\n");
        for via in headers(req, "Via") {
            out.push_str(&format!("Via: {via}\r\n"));
        }
        let to = header(req, "To").unwrap();
        let to = if to.contains("tag=") {
            to.to_string()
        } else {
            format!("{to};tag={}", self.tag)
        };
        out.push_str(&format!(
            "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <sip:alice@127.0.0.1:{}>\r\n",
            header(req, "From").unwrap(),
            header(req, "Call-ID").unwrap(),
            header(req, "CSeq").unwrap(),
            self.client.port()
        ));
        match sdp {
            Some(b) => out.push_str(&format!(
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            )),
            None => out.push_str("Content-Length: 0\r\n\r\n"),
        }
        out
    }

    fn sdp(&self, direction: &str) -> String {
        let port = self.rtp_addr().port();
        let (pts, te) = if self.te {
            (
                "0 101",
                "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n",
            )
        } else {
            ("0", "")
        };
        format!(
            "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {port} RTP/AVP {pts}\r\na=rtpmap:0 PCMU/8000\r\n{te}a={direction}\r\n"
        )
    }

    /// The phone's own re-INVITE in `direction` (`sendonly` puts Omnivox
    /// on hold); returns the 200 OK after sending the ACK.
    pub async fn reinvite(&mut self, direction: &str) -> String {
        let invite = self.invite.clone().expect("no call to re-INVITE in");
        self.cseq += 1;
        let n = self.cseq;
        let port = self.client.port();
        let target = header(&invite, "Contact")
            .and_then(|c| c.split_once('<'))
            .and_then(|(_, r)| r.split_once('>'))
            .map(|(uri, _)| uri.to_string())
            .expect("Contact in Omnivox's INVITE");
        let from = format!("{};tag={}", header(&invite, "To").unwrap(), self.tag);
        let to = header(&invite, "From").unwrap().to_string();
        let call_id = header(&invite, "Call-ID").unwrap().to_string();
        let sdp = self.sdp(direction);
        let req = format!(
            "INVITE {target} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-re{n}-{port};rport\r\n\
             From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {n} INVITE\r\n\
             Contact: <sip:alice@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
        self.sending
            .store(direction == "sendrecv", Ordering::Relaxed);
        self.client.send(req.as_bytes()).await;
        let resp = loop {
            let r = self
                .client
                .recv(5000)
                .await
                .expect("an answer to the re-INVITE");
            if r.starts_with("SIP/2.0 ") && status(&r) >= 200 {
                break r;
            }
        };
        assert_eq!(status(&resp), 200, "{resp}");
        let ack = format!(
            "ACK {target} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-ack{n}-{port};rport\r\n\
             From: {from}\r\nTo: {}\r\nCall-ID: {call_id}\r\nCSeq: {n} ACK\r\nMax-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n",
            header(&resp, "To").unwrap()
        );
        self.client.send(ack.as_bytes()).await;
        resp
    }

    /// Answers the next INVITE (200 with our SDP) and waits for its ACK;
    /// returns the INVITE. A re-INVITE that holds us is answered
    /// `recvonly` and the phone goes quiet until the next one.
    pub async fn answer(&mut self, secs: u64) -> String {
        let (invite, from) = self.next_request("INVITE", secs).await;
        let offer = body(&invite);
        *self.remote.lock().unwrap() = sdp_media(offer);
        let held = offer.contains("a=sendonly") || offer.contains("a=inactive");
        let dir = if offer.contains("a=sendonly") {
            "recvonly"
        } else if offer.contains("a=inactive") {
            "inactive"
        } else {
            "sendrecv"
        };
        self.sending.store(!held, Ordering::Relaxed);
        let sdp = self.sdp(dir);
        let resp = self.response(&invite, "200 OK", Some(&sdp));
        self.client
            .socket
            .send_to(resp.as_bytes(), from)
            .await
            .unwrap();
        self.next_request("ACK", 5).await;
        if self.invite.is_none() {
            self.invite = Some(invite.clone());
        }
        invite
    }

    /// Waits for Omnivox's BYE and confirms it.
    pub async fn expect_bye(&self, secs: u64) {
        let (bye, from) = self.next_request("BYE", secs).await;
        let resp = self.response(&bye, "200 OK", None);
        self.client
            .socket
            .send_to(resp.as_bytes(), from)
            .await
            .unwrap();
    }

    /// Packets received so far.
    pub fn packets(&self) -> Vec<RtpIn> {
        self.received.lock().unwrap().clone()
    }
}
