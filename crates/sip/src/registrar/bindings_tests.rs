use super::*;
use RegistrationEventKind::*;

fn rules() -> RegistrarConfig {
    RegistrarConfig {
        min_expires_secs: 60,
        max_expires_secs: 3600,
        default_expires_secs: 1800,
        max_contacts_per_aor: 3,
        ..RegistrarConfig::default()
    }
}

fn entry(host: &str, port: u16) -> ContactEntry {
    ContactEntry {
        uri: format!("sip:alice@{host}:{port}"),
        key: format!("sip:alice@{host}:{port}"),
        host_ip: host.parse().ok(),
        port: Some(port),
        expires: None,
        q: None,
        instance: None,
        reg_id: None,
    }
}

fn req(contacts: ContactSpec, expires: Option<u32>, cseq: u32) -> RegisterRequest {
    RegisterRequest {
        contacts,
        expires_header: expires,
        call_id: "call-1".into(),
        cseq,
        source: "203.0.113.5:40000".parse().unwrap(),
        transport: SipTransport::Udp,
        user_agent: Some("phone".into()),
    }
}

fn kinds(c: &[Change]) -> Vec<RegistrationEventKind> {
    c.iter().map(|c| c.kind).collect()
}

struct Clock {
    now: Instant,
    wall: SystemTime,
}

impl Clock {
    fn new() -> Self {
        Self {
            now: Instant::now(),
            wall: SystemTime::now(),
        }
    }
    fn advance(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
        self.wall += Duration::from_secs(secs);
    }
}

#[test]
fn expiry_default_header_param_min_and_max() {
    let r = rules();
    let c = Clock::new();
    let mut a = AorBindings::default();
    let list = |e: ContactEntry| ContactSpec::List(vec![e]);
    // Default when nothing is given.
    a.apply(
        &req(list(entry("203.0.113.5", 5060)), None, 1),
        &r,
        c.now,
        c.wall,
    )
    .unwrap();
    assert_eq!(a.current(c.now)[0].1, 1800);
    // Expires header.
    a.apply(
        &req(list(entry("203.0.113.5", 5060)), Some(120), 2),
        &r,
        c.now,
        c.wall,
    )
    .unwrap();
    assert_eq!(a.current(c.now)[0].1, 120);
    // The contact parameter wins over the header.
    let mut e = entry("203.0.113.5", 5060);
    e.expires = Some(300);
    a.apply(&req(list(e), Some(120), 3), &r, c.now, c.wall)
        .unwrap();
    assert_eq!(a.current(c.now)[0].1, 300);
    // Too long is shortened to the maximum.
    a.apply(
        &req(list(entry("203.0.113.5", 5060)), Some(999_999), 4),
        &r,
        c.now,
        c.wall,
    )
    .unwrap();
    assert_eq!(a.current(c.now)[0].1, 3600);
    // Too short is 423 with the minimum, and changes nothing.
    let err = a
        .apply(
            &req(list(entry("203.0.113.5", 5060)), Some(59), 5),
            &r,
            c.now,
            c.wall,
        )
        .unwrap_err();
    assert_eq!(err, RegisterError::IntervalTooBrief(60));
    assert_eq!(a.current(c.now)[0].1, 3600);
}

#[test]
fn register_refresh_unregister_and_events() {
    let r = rules();
    let mut c = Clock::new();
    let mut a = AorBindings::default();
    let spec = ContactSpec::List(vec![entry("203.0.113.5", 5060)]);
    let ch = a
        .apply(&req(spec.clone(), Some(600), 1), &r, c.now, c.wall)
        .unwrap();
    assert_eq!(kinds(&ch), [Registered]);
    let first_at = ch[0].binding.registered_at;
    c.advance(100);
    let ch = a
        .apply(&req(spec.clone(), Some(600), 2), &r, c.now, c.wall)
        .unwrap();
    assert_eq!(kinds(&ch), [Refreshed]);
    assert_eq!(
        ch[0].binding.registered_at, first_at,
        "refresh keeps the creation time"
    );
    assert_eq!(ch[0].binding.cseq, 2);
    let ch = a.apply(&req(spec, Some(0), 3), &r, c.now, c.wall).unwrap();
    assert_eq!(kinds(&ch), [Unregistered]);
    assert!(a.current(c.now).is_empty());
    // Unregistering an unknown contact is fine and reports nothing.
    let spec = ContactSpec::List(vec![entry("203.0.113.5", 5099)]);
    assert!(
        a.apply(&req(spec, Some(0), 4), &r, c.now, c.wall)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn out_of_order_cseq_is_refused_but_a_new_call_id_is_not() {
    let r = rules();
    let c = Clock::new();
    let mut a = AorBindings::default();
    let spec = ContactSpec::List(vec![entry("203.0.113.5", 5060)]);
    a.apply(&req(spec.clone(), None, 5), &r, c.now, c.wall)
        .unwrap();
    assert_eq!(
        a.apply(&req(spec.clone(), None, 5), &r, c.now, c.wall)
            .unwrap_err(),
        RegisterError::OutOfOrder
    );
    assert_eq!(
        a.apply(&req(spec.clone(), None, 4), &r, c.now, c.wall)
            .unwrap_err(),
        RegisterError::OutOfOrder
    );
    // A rebooted phone: new Call-ID, CSeq back to 1.
    let mut rebooted = req(spec, None, 1);
    rebooted.call_id = "call-2".into();
    assert_eq!(
        kinds(&a.apply(&rebooted, &r, c.now, c.wall).unwrap()),
        [Refreshed]
    );
}

#[test]
fn wildcard_removes_everything_only_with_expires_zero() {
    let r = rules();
    let c = Clock::new();
    let mut a = AorBindings::default();
    let spec = ContactSpec::List(vec![entry("203.0.113.5", 5060), entry("203.0.113.5", 5062)]);
    assert_eq!(
        a.apply(&req(spec, None, 1), &r, c.now, c.wall)
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        a.apply(&req(ContactSpec::Wildcard, None, 2), &r, c.now, c.wall)
            .unwrap_err(),
        RegisterError::BadRequest("Contact: * needs Expires: 0")
    );
    let ch = a
        .apply(&req(ContactSpec::Wildcard, Some(0), 2), &r, c.now, c.wall)
        .unwrap();
    assert_eq!(kinds(&ch), [Unregistered, Unregistered]);
    assert!(a.current(c.now).is_empty());
}

#[test]
fn several_contacts_and_eviction_of_the_oldest() {
    let r = rules();
    let mut c = Clock::new();
    let mut a = AorBindings::default();
    for (i, port) in [5060u16, 5061, 5062].into_iter().enumerate() {
        let spec = ContactSpec::List(vec![entry("203.0.113.5", port)]);
        let mut rq = req(spec, None, 1);
        rq.call_id = format!("c{i}");
        a.apply(&rq, &r, c.now, c.wall).unwrap();
        c.advance(1);
    }
    assert_eq!(a.current(c.now).len(), 3);
    let mut rq = req(ContactSpec::List(vec![entry("203.0.113.5", 5063)]), None, 1);
    rq.call_id = "c9".into();
    let ch = a.apply(&rq, &r, c.now, c.wall).unwrap();
    assert_eq!(kinds(&ch), [Registered, Unregistered]);
    assert_eq!(ch[1].binding.contact, "sip:alice@203.0.113.5:5060");
    assert_eq!(a.current(c.now).len(), 3);
}

#[test]
fn expiry_sweep() {
    let r = rules();
    let mut c = Clock::new();
    let mut a = AorBindings::default();
    let spec = ContactSpec::List(vec![entry("203.0.113.5", 5060)]);
    a.apply(&req(spec, Some(60), 1), &r, c.now, c.wall).unwrap();
    c.advance(59);
    assert!(a.sweep(c.now).is_empty());
    assert_eq!(a.current(c.now)[0].1, 1);
    c.advance(1);
    assert_eq!(a.sweep(c.now).len(), 1);
    assert!(a.current(c.now).is_empty());
}

#[test]
fn nat_detection_and_targets() {
    let src: SocketAddr = "203.0.113.5:40000".parse().unwrap();
    // Private contact from a public source: send to the source.
    let (t, nat) = reachable(&entry("192.168.1.20", 5060), src, SipTransport::Udp);
    assert_eq!((t, nat), (src, true));
    // Contact is the source host: use the contact's port.
    let (t, nat) = reachable(&entry("203.0.113.5", 5060), src, SipTransport::Udp);
    assert_eq!((t, nat), ("203.0.113.5:5060".parse().unwrap(), false));
    // Host names are not resolved: the source is the way back.
    let mut e = entry("x", 5060);
    e.host_ip = None;
    assert_eq!(reachable(&e, src, SipTransport::Udp), (src, true));
    // TCP: always back through the connection.
    let (t, nat) = reachable(&entry("203.0.113.5", 5060), src, SipTransport::Tcp);
    assert_eq!((t, nat), (src, false));
}

#[test]
fn same_instance_new_contact_replaces_the_old_binding() {
    let r = rules();
    let c = Clock::new();
    let mut a = AorBindings::default();
    let mut e1 = entry("203.0.113.5", 5060);
    e1.instance = Some("<urn:uuid:1>".into());
    e1.reg_id = Some(1);
    a.apply(
        &req(ContactSpec::List(vec![e1.clone()]), None, 1),
        &r,
        c.now,
        c.wall,
    )
    .unwrap();
    let mut e2 = entry("203.0.113.5", 6000);
    e2.instance = e1.instance.clone();
    e2.reg_id = Some(1);
    let ch = a
        .apply(
            &req(ContactSpec::List(vec![e2]), None, 2),
            &r,
            c.now,
            c.wall,
        )
        .unwrap();
    assert_eq!(kinds(&ch), [Unregistered, Registered]);
    let cur = a.current(c.now);
    assert_eq!(cur.len(), 1);
    assert_eq!(cur[0].0.contact, "sip:alice@203.0.113.5:6000");
}

#[test]
fn duplicate_contacts_in_one_request_count_once() {
    let r = rules();
    let c = Clock::new();
    let mut a = AorBindings::default();
    let spec = ContactSpec::List(vec![entry("203.0.113.5", 5060), entry("203.0.113.5", 5060)]);
    let ch = a.apply(&req(spec, None, 1), &r, c.now, c.wall).unwrap();
    assert_eq!(kinds(&ch), [Registered]);
}
