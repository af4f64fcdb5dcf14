//! The data generator: persons and their documents across the kinds,
//! loaded through the hub's own bulk NDJSON ingest over mTLS with the
//! certificate of each kind's author.
//!
//! Every person is insured by the dev municipality (131016), so that its
//! certificate may write (and read) all of them. Person `p` (0-based) has the
//! insured number `p + 1`, ten digits. Documents are dealt in rounds: round
//! `r` gives every person one document of `ROUNDS[r]` (certificates once, the
//! other kinds under key `bench-r`), so 1,000,000 documents over 100,000
//! persons is ten documents each, of eight kinds, from three authors.

use crate::client::{self, Body, Target};
use anyhow::{Context, Result, bail};
use bytes::Bytes;
use carehub_domain::content::example_content;
use carehub_domain::{DocumentKind, InsuredNumber, InsurerNumber, PersonRef};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The insurer of every generated person (the dev municipality's).
pub const INSURER: &str = "131016";
/// The insured number that marks where a person goes in a template.
const PLACEHOLDER_INSURED: &str = "7777777777";
/// Marks where a document key goes in a template.
const PLACEHOLDER_KEY: &str = "__BENCH_KEY__";

use DocumentKind as K;

/// The kind of each round, in order; later rounds cycle over [`MORE`].
const ROUNDS: [K; 10] = [
    K::InsuranceCertificate,
    K::CertificationApplication,
    K::CertificationSurvey,
    K::PhysicianOpinion,
    K::CarePlan,
    K::BurdenRatioCertificate,
    K::LifeFeedback,
    K::CarePlan,
    K::HousingRenovation,
    K::CostLimitCertificate,
];
const MORE: [K; 6] = [
    K::CertificationSurvey,
    K::PhysicianOpinion,
    K::CarePlan,
    K::LifeFeedback,
    K::CertificationApplication,
    K::WelfareEquipmentPurchase,
];

/// The kind of round `r` for person `p`.
pub fn kind_of(round: u64, person: u64) -> K {
    match ROUNDS.get(round as usize) {
        // Half the persons bought welfare equipment instead of renovating.
        Some(K::HousingRenovation) if person % 2 == 1 => K::WelfareEquipmentPurchase,
        Some(k) => *k,
        None => MORE[(round as usize - ROUNDS.len()) % MORE.len()],
    }
}

/// The dev client (role name of `DEV_CLIENTS`) that authors a kind.
pub fn author_of(kind: K) -> &'static str {
    match kind {
        K::CarePlan => "care-manager",
        K::LifeFeedback => "care-service",
        _ => "municipality",
    }
}

/// The ten-digit insured number of person `p`.
pub fn insured(p: u64) -> String {
    format!("{:010}", p + 1)
}

/// A person of the dev municipality by insured number.
pub fn person(insured: &str) -> PersonRef {
    person_of(INSURER, insured)
}

/// A person of `insurer` by insured number.
pub fn person_of(insurer: &str, insured: &str) -> PersonRef {
    PersonRef::new(
        InsurerNumber::parse(insurer).expect("valid insurer"),
        InsuredNumber::parse(insured).expect("valid insured number"),
    )
}

/// NDJSON lines with placeholders for the person and the key, one per kind.
pub struct Templates {
    by_kind: BTreeMap<&'static str, String>,
}

impl Templates {
    /// Serializes one envelope per kind, for persons of the dev municipality.
    pub fn new() -> Templates {
        Templates::for_insurer(INSURER)
    }

    /// Serializes one envelope per kind, for persons of `insurer`.
    pub fn for_insurer(insurer: &str) -> Templates {
        let p = person_of(insurer, PLACEHOLDER_INSURED);
        let mut by_kind = BTreeMap::new();
        for kind in DocumentKind::ALL {
            let mut env = serde_json::json!({
                "person": { "insurer_number": insurer, "insured_number": PLACEHOLDER_INSURED },
                "kind": kind.as_str(),
                "content": example_content(kind, &p),
            });
            if !kind.is_singleton() {
                env["document_key"] = PLACEHOLDER_KEY.into();
            }
            by_kind.insert(kind.as_str(), env.to_string());
        }
        Templates { by_kind }
    }

    /// One envelope (no trailing newline).
    pub fn line(&self, kind: K, insured: &str, key: &str) -> String {
        self.by_kind[kind.as_str()]
            .replace(PLACEHOLDER_INSURED, insured)
            .replace(PLACEHOLDER_KEY, key)
    }

    /// Serialized size of each kind's envelope, bytes.
    pub fn sizes(&self) -> BTreeMap<String, usize> {
        self.by_kind
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.len()))
            .collect()
    }
}

/// What was loaded, kept beside the database so a later run can reuse it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Dataset {
    /// Persons.
    pub persons: u64,
    /// Documents.
    pub documents: u64,
    /// Documents per kind.
    pub per_kind: BTreeMap<String, u64>,
    /// Seconds the documents took (bulk ingest only).
    pub load_seconds: f64,
    /// Documents per second over the bulk ingest.
    pub load_rate: f64,
    /// Seconds spent registering the offices for their persons first.
    #[serde(default)]
    pub register_seconds: f64,
    /// Lines per bulk request during the load.
    pub batch_lines: usize,
    /// Bulk requests in flight during the load.
    pub in_flight: usize,
    /// Database file size after the load, bytes.
    pub db_bytes: u64,
}

/// Counts a plan: documents per kind.
pub fn plan_counts(persons: u64, documents: u64) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let rounds = documents.div_ceil(persons);
    for r in 0..rounds {
        let in_round = (documents - r * persons).min(persons);
        for (parity, n) in [(0u64, in_round.div_ceil(2)), (1, in_round / 2)] {
            *out.entry(kind_of(r, parity).as_str().to_owned())
                .or_default() += n;
        }
    }
    out
}

/// A bulk body: documents `range` of one author, with their numbers in the plan.
fn body_for(templates: &Templates, persons: u64, docs: &[u64]) -> Vec<u8> {
    let mut body = Vec::with_capacity(docs.len() * 2048);
    for &i in docs {
        let (p, r) = (i % persons, i / persons);
        let kind = kind_of(r, p);
        body.extend_from_slice(
            templates
                .line(kind, &insured(p), &format!("bench-{r}"))
                .as_bytes(),
        );
        body.push(b'\n');
    }
    body
}

/// The bulk request for a body.
pub fn bulk_request(target: &Target, body: Vec<u8>) -> http::Request<Body> {
    http::Request::builder()
        .method("POST")
        .uri(format!(
            "{}://localhost:{}/api/ingest/documents:bulk",
            target.scheme(),
            target.addr.port()
        ))
        .header("host", format!("localhost:{}", target.addr.port()))
        .header("content-type", "application/x-ndjson")
        .body(Body::new(Bytes::from(body)))
        .expect("valid request")
}

/// Loads the plan through bulk ingest. `targets` holds one target per
/// author role (the same server, different client certificates).
pub async fn load(
    targets: &BTreeMap<&'static str, Target>,
    persons: u64,
    documents: u64,
    batch_lines: usize,
    in_flight: usize,
    db_path: &Path,
) -> Result<Dataset> {
    let templates = Arc::new(Templates::new());
    // Document numbers by author, in plan order.
    let mut by_author: BTreeMap<&'static str, Vec<u64>> = BTreeMap::new();
    for i in 0..documents {
        let kind = kind_of(i / persons, i % persons);
        by_author.entry(author_of(kind)).or_default().push(i);
    }
    let started = Instant::now();
    let mut register_secs = 0.0;
    let done = Arc::new(AtomicU64::new(0));
    let mut last_print = Instant::now();
    for (author, docs) in by_author {
        let target = targets
            .get(author)
            .with_context(|| format!("no client for {author}"))?
            .clone();
        if author != "municipality" {
            // An office stores documents only about persons it is registered
            // for: register it for every person it writes about first.
            let mut who: Vec<u64> = docs.iter().map(|i| i % persons).collect();
            who.sort_unstable();
            who.dedup();
            let t = Instant::now();
            register(&target, author, who).await?;
            register_secs += t.elapsed().as_secs_f64();
        }
        let batches: Arc<Vec<Vec<u64>>> =
            Arc::new(docs.chunks(batch_lines).map(<[u64]>::to_vec).collect());
        let next = Arc::new(AtomicU64::new(0));
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..in_flight.max(1) {
            let (templates, batches, next, done, target) = (
                templates.clone(),
                batches.clone(),
                next.clone(),
                done.clone(),
                target.clone(),
            );
            workers.spawn(async move {
                let mut sender = client::connect(&target).await?;
                loop {
                    let b = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(docs) = batches.get(b) else {
                        return anyhow::Ok(());
                    };
                    let body = body_for(&templates, persons, docs);
                    let resp = client::send(&mut sender, bulk_request(&target, body)).await?;
                    let text = String::from_utf8_lossy(resp.body());
                    if resp.status() != 200 {
                        bail!("bulk ingest answered {}: {}", resp.status(), text);
                    }
                    let stored = text.matches("\"status\":201").count()
                        + text.matches("\"status\":200").count();
                    if stored != docs.len() {
                        let refused = text
                            .lines()
                            .find(|l| {
                                !l.contains("\"status\":201") && !l.contains("\"status\":200")
                            })
                            .unwrap_or("");
                        bail!(
                            "bulk ingest stored {stored} of {} lines; first refusal: {refused}",
                            docs.len()
                        );
                    }
                    done.fetch_add(docs.len() as u64, Ordering::Relaxed);
                }
            });
        }
        loop {
            tokio::select! {
                joined = workers.join_next() => match joined {
                    None => break,
                    Some(r) => r.context("a loader task panicked")??,
                },
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            if last_print.elapsed() >= Duration::from_secs(1) {
                last_print = Instant::now();
                let n = done.load(Ordering::Relaxed);
                let secs = started.elapsed().as_secs_f64() - register_secs;
                eprint!(
                    "\r  loading: {n}/{documents} documents, {:.0} documents/s (as {author})      ",
                    n as f64 / secs
                );
            }
        }
    }
    let secs = started.elapsed().as_secs_f64() - register_secs;
    eprintln!(
        "\r  loaded {documents} documents for {persons} persons in {secs:.1} s: {:.0} documents/s                ",
        documents as f64 / secs
    );
    Ok(Dataset {
        persons,
        documents,
        per_kind: plan_counts(persons, documents),
        load_seconds: secs,
        load_rate: documents as f64 / secs,
        register_seconds: register_secs,
        batch_lines,
        in_flight,
        db_bytes: crate::sys::disk_usage(db_path)
            + crate::sys::disk_usage(&db_path.with_extension("db-wal")),
    })
}

/// Connections used to register offices.
const REGISTER_CONNECTIONS: usize = 8;

/// Registers the office behind `target` as the responsible office of each
/// person (`POST /api/office-register/registrations`, identity checked with
/// the My Number card), as offices do when a contract starts.
async fn register(target: &Target, role: &str, who: Vec<u64>) -> Result<()> {
    let started = Instant::now();
    let total = who.len();
    let who = Arc::new(who);
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..REGISTER_CONNECTIONS {
        let (who, next, target) = (who.clone(), next.clone(), target.clone());
        workers.spawn(async move {
            let mut sender = client::connect(&target).await?;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(&p) = who.get(n) else {
                    return anyhow::Ok(());
                };
                let body = serde_json::json!({
                    "person": { "insurer_number": INSURER, "insured_number": insured(p) },
                    "verification_method": { "type": "my_number_card" },
                    "verification_reference": format!("bench-{p}"),
                    "start": "2025-04-01T00:00:00Z",
                });
                let req = http::Request::builder()
                    .method("POST")
                    .uri(format!(
                        "{}://localhost:{}/api/office-register/registrations",
                        target.scheme(),
                        target.addr.port()
                    ))
                    .header("host", format!("localhost:{}", target.addr.port()))
                    .header("content-type", "application/json")
                    .body(Body::new(Bytes::from(body.to_string())))?;
                let resp = client::send(&mut sender, req).await?;
                // 409: already registered (a dataset loaded in part before).
                if resp.status() != 201 && resp.status() != 409 {
                    bail!(
                        "registering an office answered {}: {}",
                        resp.status(),
                        String::from_utf8_lossy(resp.body())
                    );
                }
            }
        });
    }
    let mut last = Instant::now();
    loop {
        tokio::select! {
            joined = workers.join_next() => match joined {
                None => break,
                Some(r) => r.context("a registering task panicked")??,
            },
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        if last.elapsed() >= Duration::from_secs(1) {
            last = Instant::now();
            let n = (next.load(Ordering::Relaxed) as usize).min(total);
            eprint!(
                "\r  registering {role}: {n}/{total} persons, {:.0}/s      ",
                n as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    eprintln!(
        "\r  registered {role} for {total} persons in {:.1} s                    ",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// What the read cells ask for, sampled from the loaded database.
pub struct ReadTargets {
    /// Insured numbers of persons in the dataset.
    pub insured: Vec<String>,
    /// Ids of documents the municipality authored (so it may read them).
    pub document_ids: Vec<String>,
}

/// A small, fast PRNG (SplitMix64), seeded per connection.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1))
    }
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Samples persons and documents for the read cells.
pub fn read_targets(db: &Path, persons: u64, samples: usize) -> Result<ReadTargets> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut rng = Rng::new(7);
    let insured_list = (0..samples).map(|_| insured(rng.below(persons))).collect();
    let max_seq: i64 = conn.query_row("SELECT max(seq) FROM documents", [], |r| r.get(0))?;
    let mut stmt = conn.prepare(
        "SELECT document_id FROM documents WHERE seq = ?1 AND author = 'urn:carehub:municipality:131016' \
         AND insured_number < '1'",
    )?;
    let mut ids = Vec::with_capacity(samples);
    let mut tries = 0;
    while ids.len() < samples && tries < samples * 20 {
        tries += 1;
        let seq = 1 + rng.below(max_seq as u64) as i64;
        if let Ok(id) = stmt.query_row([seq], |r| r.get::<_, String>(0)) {
            ids.push(id);
        }
    }
    if ids.is_empty() {
        bail!("no municipality document found in {}", db.display());
    }
    Ok(ReadTargets {
        insured: insured_list,
        document_ids: ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_validates_for_another_person() {
        let t = Templates::new();
        for kind in DocumentKind::ALL {
            let line = t.line(kind, "0000000042", "bench-3");
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            let p = person("0000000042");
            assert_eq!(v["person"]["insured_number"], "0000000042");
            assert!(
                carehub_domain::content::validate_content(kind, &p, &v["content"]).is_ok(),
                "{kind}"
            );
        }
    }

    #[test]
    fn the_default_plan_is_ten_documents_a_person() {
        let counts = plan_counts(100_000, 1_000_000);
        assert_eq!(counts.values().sum::<u64>(), 1_000_000);
        assert_eq!(counts["care_plan"], 200_000);
        assert_eq!(counts["insurance_certificate"], 100_000);
        assert_eq!(
            counts["housing_renovation"] + counts["welfare_equipment_purchase"],
            100_000
        );
    }
}
