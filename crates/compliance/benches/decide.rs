//! Decision throughput, national DNC lookups and their baselines, printed as JSON.
//!
//!     cargo bench -p omnivox-compliance
//!
//! Plain `std::time::Instant` loops on one thread with warm caches (each measured
//! loop runs once untimed first). Inputs are generated from a fixed seed.
#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use omnivox_compliance::*;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// US area codes from the embedded NANP table.
fn us_npas() -> Vec<u64> {
    include_str!("../data/nanp_npa.txt")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut c = l.split('\t');
            let npa = c.next()?.parse().ok()?;
            (c.next()? == "US").then_some(npa)
        })
        .collect()
}

/// Run `f` over `n` items repeatedly for at least `min` and return ns per item.
fn per_item(n: usize, min: Duration, mut f: impl FnMut() -> u64) -> (f64, u64) {
    let mut sink = f(); // warm-up pass
    let start = Instant::now();
    let mut rounds = 0u64;
    while start.elapsed() < min {
        sink = sink.wrapping_add(f());
        rounds += 1;
    }
    let ns = start.elapsed().as_nanos() as f64 / (rounds as f64 * n as f64);
    (ns, sink)
}

struct Lead {
    number: String,
    state: Option<&'static str>,
    zip: Option<&'static str>,
    automated: bool,
    consent: Consent,
    calls: Vec<DateTime<Utc>>,
    abandoned: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
}

fn main() {
    let geo = Geo::embedded().expect("embedded geo data");
    let rules = RuleSet::embedded().expect("embedded rules");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let npas = us_npas();

    // National registry: 10 M numbers spread over every US area code.
    let build_start = Instant::now();
    let mut builder = NationalDncBuilder::new();
    let mut registered: Vec<u64> = Vec::with_capacity(1_000_000);
    for n in 0..10_000_000u64 {
        let npa = npas[rng.below(npas.len() as u64) as usize];
        let number = npa * 10_000_000 + 2_000_000 + rng.below(8_000_000);
        builder.push_number(number);
        if n % 10 == 0 {
            registered.push(number);
        }
    }
    let refreshed: DateTime<Utc> = "2026-06-01T00:00:00Z".parse().expect("instant");
    let (national, report) = builder.build("us_national_dnc", refreshed);
    let build_secs = build_start.elapsed().as_secs_f64();

    // Lookup keys: alternately a registered number and a random one (~50 % hits).
    let ten: Vec<u64> = (0..1_000_000)
        .map(|i| {
            if i % 2 == 0 {
                registered[rng.below(registered.len() as u64) as usize]
            } else {
                npas[rng.below(npas.len() as u64) as usize] * 10_000_000
                    + 2_000_000
                    + rng.below(8_000_000)
            }
        })
        .collect();
    let keys: Vec<String> = ten.iter().map(|n| format!("+1{n}")).collect();
    let hits = ten.iter().filter(|n| national.contains_ten(**n)).count();
    let (dnc_ns, _) = per_item(keys.len(), Duration::from_secs(2), || {
        keys.iter()
            .filter(|k| national.contains(black_box(k)))
            .count() as u64
    });
    let (dnc_u64_ns, _) = per_item(ten.len(), Duration::from_secs(2), || {
        ten.iter()
            .filter(|n| national.contains_ten(black_box(**n)))
            .count() as u64
    });
    // Latency: each lookup's key depends on the previous answer (no overlap of misses).
    let (dnc_latency_ns, _) = per_item(ten.len(), Duration::from_secs(2), || {
        let mut i = 0usize;
        let mut acc = 0u64;
        for _ in 0..ten.len() {
            let hit = national.contains_ten(ten[i]) as usize;
            acc += hit as u64;
            i = (i * 7 + 13 + hit) % ten.len();
        }
        acc
    });
    // Baseline: the same 10 M numbers in a std HashSet<u64>.
    let (hashset_ns, hashset_bytes) = {
        let mut set: std::collections::HashSet<u64> =
            std::collections::HashSet::with_capacity(10_000_000);
        let mut r = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..10_000_000u64 {
            let npa = npas[r.below(npas.len() as u64) as usize];
            set.insert(npa * 10_000_000 + 2_000_000 + r.below(8_000_000));
        }
        let (ns, _) = per_item(ten.len(), Duration::from_secs(2), || {
            ten.iter().filter(|n| set.contains(black_box(n))).count() as u64
        });
        // hashbrown: one u64 plus one control byte per bucket.
        (ns, set.capacity().next_power_of_two() * 9)
    };

    // Internal list (100 k numbers, 50 area-code wildcards) and a campaign list (10 k).
    let mut internal = DncSet::internal();
    for _ in 0..100_000 {
        let n = npas[rng.below(npas.len() as u64) as usize] * 10_000_000
            + 2_000_000
            + rng.below(8_000_000);
        internal.insert(&format!("+1{n}")).expect("entry");
    }
    for _ in 0..50 {
        internal
            .insert(&format!(
                "+1{}*",
                npas[rng.below(npas.len() as u64) as usize]
            ))
            .expect("entry");
    }
    let mut campaign_list = DncSet::campaign(CampaignId(1));
    for _ in 0..10_000 {
        let n = npas[rng.below(npas.len() as u64) as usize] * 10_000_000
            + 2_000_000
            + rng.below(8_000_000);
        campaign_list.insert(&format!("+1{n}")).expect("entry");
    }
    let lists: [&dyn DncLookup; 3] = [&internal, &campaign_list, &national];

    // Mixed workload: 90 % NANP, 10 % international; times spread over a week.
    let week_start: DateTime<Utc> = "2026-06-08T00:00:00Z".parse().expect("instant");
    let intl = [
        "+442079460018",
        "+61412345678",
        "+4930123456",
        "+33142685300",
        "+525512345678",
        "+919876543210",
    ];
    let states = ["FL", "TX", "CA", "NY", "OK", "Maryland", "LA", "WA"];
    let zips = [
        "33101", "75201", "90001", "10001", "73301", "21201", "80202",
    ];
    let leads: Vec<Lead> = (0..4096)
        .map(|_| {
            let now = week_start + TimeDelta::seconds(rng.below(7 * 86_400) as i64);
            let number = if rng.below(10) == 0 {
                intl[rng.below(intl.len() as u64) as usize].to_owned()
            } else {
                format!(
                    "+1{}",
                    npas[rng.below(npas.len() as u64) as usize] * 10_000_000
                        + 2_000_000
                        + rng.below(8_000_000)
                )
            };
            let calls = (0..rng.below(5))
                .map(|_| now - TimeDelta::minutes(rng.below(30 * 60) as i64))
                .collect();
            Lead {
                number,
                state: (rng.below(4) == 0).then(|| states[rng.below(states.len() as u64) as usize]),
                zip: (rng.below(4) == 0).then(|| zips[rng.below(zips.len() as u64) as usize]),
                automated: rng.below(2) == 0,
                consent: [Consent::None, Consent::Express, Consent::ExpressWritten]
                    [rng.below(3) as usize],
                calls,
                abandoned: (rng.below(20) == 0)
                    .then(|| now - TimeDelta::hours(rng.below(100) as i64)),
                now,
            }
        })
        .collect();
    let inputs: Vec<DecisionInput<'_>> = leads
        .iter()
        .map(|l| DecisionInput {
            number: &l.number,
            contact: ContactFacts {
                place: Place {
                    country: None,
                    state: l.state,
                    postal_code: l.zip,
                },
                number_kind: NumberKind::Unknown,
                consent: l.consent,
                opted_out: false,
            },
            campaign: CampaignFacts {
                id: CampaignId(1),
                automated: l.automated,
                max_attempts_per_day: Some(3),
                max_attempts_total: Some(10),
                ..CampaignFacts::default()
            },
            history: AttemptHistory {
                lead_attempts_today: (l.calls.len() as u32).min(3),
                lead_attempts_total: l.calls.len() as u32,
                person_calls: &l.calls,
                last_abandoned_at: l.abandoned,
            },
            tenant: TenantRules::default(),
            dnc: &lists,
            now: l.now,
            rules,
            geo,
        })
        .collect();
    let mut outcomes = [0u64; 3];
    for i in &inputs {
        match decide(i) {
            Decision::Allow { .. } => outcomes[0] += 1,
            Decision::Deny { .. } => outcomes[1] += 1,
            Decision::Defer { .. } => outcomes[2] += 1,
        }
    }
    let (decide_ns, _) = per_item(inputs.len(), Duration::from_secs(3), || {
        inputs
            .iter()
            .map(|i| decide(black_box(i)).is_allow() as u64)
            .sum()
    });
    // Allow-only workload (all inside the window, no history): the fast path.
    let allowed: Vec<DecisionInput<'_>> = inputs
        .iter()
        .filter(|i| decide(i).is_allow())
        .copied()
        .collect();
    let (allow_ns, _) = per_item(allowed.len(), Duration::from_secs(2), || {
        allowed
            .iter()
            .map(|i| decide(black_box(i)).is_allow() as u64)
            .sum()
    });
    let subset = |want: &str| -> Vec<DecisionInput<'_>> {
        inputs
            .iter()
            .filter(|i| decide(i).outcome() == want)
            .copied()
            .collect()
    };
    let (deferred, denied) = (subset("defer"), subset("deny"));
    let (defer_ns, _) = per_item(deferred.len(), Duration::from_secs(2), || {
        deferred
            .iter()
            .map(|i| decide(black_box(i)).reasons().len() as u64)
            .sum()
    });
    let (deny_ns, _) = per_item(denied.len(), Duration::from_secs(2), || {
        denied
            .iter()
            .map(|i| decide(black_box(i)).reasons().len() as u64)
            .sum()
    });
    // Baselines: the prefix -> zones lookup alone, and the full location step.
    let (tz_ns, _) = per_item(inputs.len(), Duration::from_secs(1), || {
        inputs
            .iter()
            .map(|i| geo.tz().zones_for(black_box(i.number)).len() as u64)
            .sum()
    });
    let (locate_ns, _) = per_item(inputs.len(), Duration::from_secs(1), || {
        inputs
            .iter()
            .map(|i| {
                geo.locate(black_box(i.number), NumberKind::Unknown, &i.contact.place)
                    .zones
                    .len() as u64
            })
            .sum()
    });

    let out = serde_json::json!({
        "bench": "omnivox-compliance/decide",
        "rule_set_version": rules.version().as_str(),
        "decide": {
            "workload": "4096 mixed leads (90% NANP over all US area codes, 10% international), times over a week, 3 DNC lists (100k internal + 50 wildcards, 10k campaign, 10M national), caps and 24h histories",
            "decisions_per_sec": (1e9 / decide_ns).round(),
            "ns_per_decision": (decide_ns * 10.0).round() / 10.0,
            "outcomes": {"allow": outcomes[0], "deny": outcomes[1], "defer": outcomes[2]},
            "allow_path_decisions_per_sec": (1e9 / allow_ns).round(),
            "allow_path_ns_per_decision": (allow_ns * 10.0).round() / 10.0,
            "defer_path_ns_per_decision": (defer_ns * 10.0).round() / 10.0,
            "deny_path_ns_per_decision": (deny_ns * 10.0).round() / 10.0,
        },
        "baseline": {
            "tz_lookup_ns": (tz_ns * 10.0).round() / 10.0,
            "locate_ns": (locate_ns * 10.0).round() / 10.0,
            "std_hashset_10m_lookup_ns": (hashset_ns * 10.0).round() / 10.0,
            "std_hashset_10m_bytes_approx": hashset_bytes,
        },
        "national_dnc": {
            "entries": national.len(),
            "duplicates_dropped": report.duplicates,
            "memory_bytes": national.memory_bytes(),
            "bytes_per_entry": ((national.memory_bytes() as f64 / national.len() as f64) * 100.0).round() / 100.0,
            "bitmap_blocks": national.bitmap_blocks(),
            "build_secs": (build_secs * 100.0).round() / 100.0,
            "lookup_ns_e164_str": (dnc_ns * 10.0).round() / 10.0,
            "lookup_ns_u64": (dnc_u64_ns * 10.0).round() / 10.0,
            "lookup_ns_dependent_chain": (dnc_latency_ns * 10.0).round() / 10.0,
            "lookup_keys": keys.len(),
            "hits_per_pass": hits,
        },
    });
    println!("{}", serde_json::to_string_pretty(&out).expect("json"));
}
