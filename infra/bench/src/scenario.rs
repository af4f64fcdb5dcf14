//! The benchmark as a table: every cell the harness measures, with the
//! `--only` groups that select it, what it needs set up ([`Needs`]), how it
//! runs ([`Runs`]) and how its figures are reported ([`Report`]).
//! [`table`] lists them in the order they run; `run` walks it, setting up
//! each [`Needs`] when the first scenario needs it and tearing it down after
//! the last. Every scenario runs after the dataset is prepared (loaded
//! through the gateway, or the stored one); [`Persons`] and [`Requests`] say
//! which of its samples a scenario draws on.

use crate::client::{Body, MakeRequest, Measured, Target, empty, get};
use crate::data::{self, Rng};
use crate::inproc::{self, Case};
use crate::setup::{Bench, Fixture, NativeStore, Needs, Place, Server};
use crate::{Config, measure};
use anyhow::{Result, bail};
use bytes::Bytes;
use carehub_domain::DocumentKind;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// One cell of the benchmark.
pub struct Scenario {
    /// The row's key (`--perf` names cells `key@connections`).
    pub key: &'static str,
    /// The row's name (the setting, for a cold start).
    pub name: String,
    /// The `--only` groups that select it.
    pub groups: &'static [&'static str],
    /// How it runs, and so what it needs.
    pub runs: Runs,
    /// How its figures are reported.
    pub report: Report,
}

/// A cell measured in this process on the dataset's store.
type NativeRun = fn(&NativeStore, &Fixture, Duration, Duration) -> Result<Measured>;

/// How a scenario runs.
pub enum Runs {
    /// Requests back to back over keep-alive connections to `server`, at
    /// every `--connections` count, with `role`'s client certificate
    /// (`None`: plain HTTP). A request counts when answered `expect`; with
    /// `count`, so does each occurrence of it in the answer (docs/s).
    Load {
        /// The server.
        server: Server,
        /// The client certificate.
        role: Option<&'static str>,
        /// What is sent.
        send: Requests,
        /// The status that counts.
        expect: u16,
        /// What counts as one document in the answer.
        count: Option<&'static str>,
    },
    /// A native function back to back in this process, against the
    /// database the gateway wrote.
    Native(NativeRun),
    /// Calls through the gateway's runtime in this process, as `principal`
    /// (a principal URN): the requests the load would send, without TLS or
    /// HTTP.
    Runtime {
        /// Who calls.
        principal: &'static str,
        /// What is called.
        send: Requests,
    },
    /// Reads of the dataset municipality's persons (B), at every
    /// `--contend-connections` count: alone, then while the second
    /// municipality (A) bulk-loads its own persons with `--load-in-flight`
    /// bulk requests of `--bulk-lines` lines back to back.
    Contended {
        /// The reads.
        reads: Requests,
    },
    /// The reads on gateways without and with the request log and the
    /// metrics endpoint, alternated A, B, A, B (issue 13).
    OpsAb,
    /// The reads on two builds side by side (`--b-gateway`, `--b-wasm-dir`),
    /// alternated A, B, A, B (`crate::abbuild`).
    BuildAb,
    /// The reads on PostgreSQL through one gateway process, then through two
    /// sharing the database (issue 12).
    Postgres,
    /// The single operations (`inproc::micro`).
    Micro,
    /// Starts of a fresh gateway on the real components (`app.toml`) with
    /// `extra` arguments, each timed to its first answered read.
    Cold {
        /// How many starts.
        runs: fn(&Config) -> usize,
        /// Extra `carehub up` arguments.
        extra: &'static [&'static str],
    },
}

/// How a scenario's figures are reported.
pub enum Report {
    /// Rows of the main table (one per connection count for a load, else
    /// one), naming the server and the caller so.
    Rows {
        /// The `server` column.
        server: &'static str,
        /// The `identity` column.
        identity: &'static str,
    },
    /// Rows of the single-operations table, named by the operation.
    SingleOperations,
    /// A row of the cold-start table, named by the scenario's name.
    ColdStart,
}

/// What a load (or an in-process scenario) sends.
#[derive(Debug, Clone, Copy)]
pub enum Requests {
    /// `GET` of a fixed answer: `/_carehub/floor` (the gateway's own) or
    /// `/probe/fixed` (the probe component).
    Fixed(&'static str),
    /// The probe's `GET /fixed` on the peer, which sets no Spin headers: the
    /// client sends `spin-path-info` itself.
    PeerFixed,
    /// `GET /api/read/persons/131016/{insured}/documents` for a random
    /// person, optionally `?kind=`; from the portal with the person's token.
    List {
        /// Whom to pick from.
        persons: Persons,
        /// The `?kind=` filter.
        kind: Option<&'static str>,
        /// Send the person's token (`Authorization: Bearer`).
        token: bool,
    },
    /// `GET /api/read/documents/{id}`, a random document the municipality
    /// wrote.
    Get,
    /// `POST /api/ingest/documents` with an `Idempotency-Key`, a new
    /// document each time (five municipality kinds in turn).
    Single,
    /// `POST /api/ingest/documents:bulk` with this many new documents.
    Bulk(usize),
    /// `POST /api/ingest/documents` as the care manager: a new version of
    /// a dataset person's care plan each time, with an `Idempotency-Key`.
    CarePlan,
    /// `POST /api/ingest/documents:bulk` as the care manager: this many
    /// new care plans of dataset persons.
    BulkCarePlans(usize),
    /// `POST /api/ingest/care-plans:csv` as the care manager: the standard
    /// files of one plan (a zip), a dataset person's, a new version each
    /// time.
    Csv,
    /// `POST /api/ingest/documents:bulk` as the second municipality: this
    /// many new documents of its own persons.
    BulkOther(usize),
}

/// Which sampled persons a read picks from.
#[derive(Debug, Clone, Copy)]
pub enum Persons {
    /// All 4,096 samples of the dataset.
    Sampled,
    /// The (up to 256) sampled persons with a person token.
    WithTokens,
}

/// The groups `--only` names.
pub const GROUPS: [&str; 12] = [
    "floors", "read", "ingest", "plain", "inproc", "cold", "contend", "csv", "ops", "pg", "ab",
    "proof",
];

const FLOORS: &[&str] = &["floors"];
const READ: &[&str] = &["read"];
const INGEST: &[&str] = &["ingest"];
const PLAIN: &[&str] = &["plain"];
const INPROC: &[&str] = &["inproc"];
const COLD: &[&str] = &["cold"];
const CONTEND: &[&str] = &["contend"];
const CSV: &[&str] = &["csv"];
const OPS: &[&str] = &["ops"];
const PG: &[&str] = &["pg"];
const AB: &[&str] = &["ab"];
const PROOF: &[&str] = &["proof"];
const CARE_MANAGER: Option<&str> = Some("care-manager");

const MUNICIPALITY: Option<&str> = Some("municipality");
const MUNICIPALITY_URN: &str = "urn:carehub:municipality:131016";
const PORTAL_URN: &str = "urn:carehub:portal:mynaportal-dev";
const FLOOR_ROUTE: Requests = Requests::Fixed("/_carehub/floor");
const PROBE_FIXED: Requests = Requests::Fixed("/probe/fixed");
const CERT: Option<&str> = Some("insurance_certificate");
const BY_KIND: &str = "read list ?kind=insurance_certificate";
const GATEWAY_MTLS: &str = "gateway (mTLS)";
const NATIVE_SQLITE: &str = "native SQLite (rusqlite)";
const NATIVE_HANDLER: &str = "native handler (no wasm, no HTTP)";
const RUNTIME: &str = "in-process runtime (no TLS/HTTP)";

/// A load that counts `200` answers.
const fn load(server: Server, role: Option<&'static str>, send: Requests) -> Runs {
    Runs::Load {
        server,
        role,
        send,
        expect: 200,
        count: None,
    }
}

/// Calls through the runtime in this process.
const fn in_runtime(principal: &'static str, send: Requests) -> Runs {
    Runs::Runtime { principal, send }
}

/// A person's documents.
const fn list(persons: Persons, kind: Option<&'static str>, token: bool) -> Requests {
    Requests::List {
        persons,
        kind,
        token,
    }
}

/// The main table's labels of a row.
const fn rows(server: &'static str, identity: &'static str) -> Report {
    Report::Rows { server, identity }
}

/// Every scenario, in the order they run.
pub fn table(cfg: &Config) -> Vec<Scenario> {
    let mut all = gateway_floors();
    all.extend(gateway_reads());
    all.extend(contended());
    all.extend(gateway_writes(cfg));
    all.extend(csv_and_care_plans(cfg));
    all.extend(peer_and_plain());
    all.extend(native());
    all.extend(proofs());
    all.extend(runtime());
    all.extend(micro_and_cold());
    all
}

/// Floors (a) and (b), on the gateway.
fn gateway_floors() -> Vec<Scenario> {
    vec![
        Scenario {
            key: "floor_a",
            name: "floor (a): native answer after mTLS".into(),
            groups: FLOORS,
            runs: load(Server::Gateway, MUNICIPALITY, FLOOR_ROUTE),
            report: rows(GATEWAY_MTLS, "municipality"),
        },
        Scenario {
            key: "floor_b",
            name: "floor (b): probe /fixed via gateway".into(),
            groups: FLOORS,
            runs: load(Server::Gateway, MUNICIPALITY, PROBE_FIXED),
            report: rows(GATEWAY_MTLS, "municipality"),
        },
    ]
}

/// The reads, on the gateway.
fn gateway_reads() -> Vec<Scenario> {
    vec![
        Scenario {
            key: "read_list",
            name: "read list (person's documents)".into(),
            groups: READ,
            runs: load(
                Server::Gateway,
                MUNICIPALITY,
                list(Persons::Sampled, None, false),
            ),
            report: rows(GATEWAY_MTLS, "municipality"),
        },
        Scenario {
            key: "read_get",
            name: "read get (one document)".into(),
            groups: READ,
            runs: load(Server::Gateway, MUNICIPALITY, Requests::Get),
            report: rows(GATEWAY_MTLS, "municipality"),
        },
        Scenario {
            key: "read_list_cert",
            name: BY_KIND.into(),
            groups: READ,
            runs: load(
                Server::Gateway,
                MUNICIPALITY,
                list(Persons::WithTokens, CERT, false),
            ),
            report: rows(GATEWAY_MTLS, "municipality"),
        },
        Scenario {
            key: "read_list_cert_portal",
            name: BY_KIND.into(),
            groups: READ,
            runs: load(
                Server::Gateway,
                Some("portal"),
                list(Persons::WithTokens, CERT, true),
            ),
            report: rows(GATEWAY_MTLS, "portal + person token"),
        },
    ]
}

/// Reads of municipality B's persons alone and while municipality A
/// bulk-loads (issue 12).
fn contended() -> Vec<Scenario> {
    vec![
        Scenario {
            key: "contend_get",
            name: "read get, B's persons".into(),
            groups: CONTEND,
            runs: Runs::Contended {
                reads: Requests::Get,
            },
            report: rows(GATEWAY_MTLS, "municipality B"),
        },
        Scenario {
            key: "contend_list",
            name: "read list, B's persons".into(),
            groups: CONTEND,
            runs: Runs::Contended {
                reads: list(Persons::Sampled, None, false),
            },
            report: rows(GATEWAY_MTLS, "municipality B"),
        },
    ]
}

/// The standard CSV import beside JSON ingest of the same document kind,
/// by the same office (issue 15).
fn csv_and_care_plans(cfg: &Config) -> Vec<Scenario> {
    vec![
        Scenario {
            key: "csv_import",
            name: "CSV care-plan import (one plan's files, zip)".into(),
            groups: CSV,
            runs: Runs::Load {
                server: Server::Gateway,
                role: CARE_MANAGER,
                send: Requests::Csv,
                expect: 201,
                count: None,
            },
            report: rows(GATEWAY_MTLS, "care manager"),
        },
        Scenario {
            key: "ingest_care_plan",
            name: "ingest single care plan, JSON".into(),
            groups: CSV,
            runs: Runs::Load {
                server: Server::Gateway,
                role: CARE_MANAGER,
                send: Requests::CarePlan,
                expect: 201,
                count: None,
            },
            report: rows(GATEWAY_MTLS, "care manager"),
        },
        Scenario {
            key: "ingest_bulk_care_plan",
            name: format!("ingest bulk care plans, NDJSON ({} lines)", cfg.bulk_lines),
            groups: CSV,
            runs: Runs::Load {
                server: Server::Gateway,
                role: CARE_MANAGER,
                send: Requests::BulkCarePlans(cfg.bulk_lines),
                expect: 200,
                count: Some("\"status\":201"),
            },
            report: rows(GATEWAY_MTLS, "care manager"),
        },
    ]
}

/// The writes, on the gateway.
fn gateway_writes(cfg: &Config) -> Vec<Scenario> {
    vec![
        Scenario {
            key: "ingest_single",
            name: "ingest single (with Idempotency-Key)".into(),
            groups: INGEST,
            runs: Runs::Load {
                server: Server::Gateway,
                role: MUNICIPALITY,
                send: Requests::Single,
                expect: 201,
                count: None,
            },
            report: rows(GATEWAY_MTLS, "municipality"),
        },
        Scenario {
            key: "ingest_bulk",
            name: format!("ingest bulk NDJSON ({} lines)", cfg.bulk_lines),
            groups: INGEST,
            runs: Runs::Load {
                server: Server::Gateway,
                role: MUNICIPALITY,
                send: Requests::Bulk(cfg.bulk_lines),
                expect: 200,
                count: Some("\"status\":201"),
            },
            report: rows(GATEWAY_MTLS, "municipality"),
        },
    ]
}

/// Floor (c) on the peer, and the plain pair.
fn peer_and_plain() -> Vec<Scenario> {
    vec![
        Scenario {
            key: "floor_c",
            name: "floor (c): probe /fixed via peer".into(),
            groups: FLOORS,
            runs: load(Server::Peer, MUNICIPALITY, Requests::PeerFixed),
            report: rows("peer (mTLS)", "municipality"),
        },
        Scenario {
            key: "plain_b",
            name: "probe /fixed via gateway, plain HTTP".into(),
            groups: PLAIN,
            runs: load(Server::PlainGateway, None, PROBE_FIXED),
            report: rows("gateway --no-edge", "none"),
        },
        Scenario {
            key: "plain_c",
            name: "probe /fixed via peer, plain HTTP".into(),
            groups: PLAIN,
            runs: load(Server::PlainPeer, None, Requests::PeerFixed),
            report: rows("peer plain", "none"),
        },
    ]
}

/// Floor (d) and the read handler, natively in this process.
fn native() -> Vec<Scenario> {
    vec![
        Scenario {
            key: "sqlite_list",
            name: "floor (d): list SQL".into(),
            groups: &["read", "inproc"],
            runs: Runs::Native(|s, fx, w, d| {
                inproc::sqlite_list(&s.store, &s.reader, &fx.insured, w, d)
            }),
            report: rows(NATIVE_SQLITE, "municipality"),
        },
        Scenario {
            key: "sqlite_get",
            name: "floor (d): get SQL (3 statements)".into(),
            groups: &["read", "inproc"],
            runs: Runs::Native(|s, fx, w, d| inproc::sqlite_get(&s.store, &fx.ids, w, d)),
            report: rows(NATIVE_SQLITE, "municipality"),
        },
        Scenario {
            key: "native_list",
            name: "read list handler".into(),
            groups: INPROC,
            runs: Runs::Native(|s, fx, w, d| {
                inproc::native_list(&s.store, &s.reader, &fx.insured, w, d)
            }),
            report: rows(NATIVE_HANDLER, "municipality"),
        },
        Scenario {
            key: "native_get",
            name: "read get handler".into(),
            groups: INPROC,
            runs: Runs::Native(|s, fx, w, d| {
                inproc::native_get(&s.store, &s.reader, &fx.ids, w, d)
            }),
            report: rows(NATIVE_HANDLER, "municipality"),
        },
    ]
}

/// Inclusion proofs natively on one access log of
/// [`inproc::PROOF_LOG_ENTRIES`] entries, all leaves: from the kept
/// subtree hashes (`log_nodes`), and from every leaf of the tree as the
/// read component proved before them, in trees of three sizes.
fn proofs() -> Vec<Scenario> {
    fn cell<const N: u64, const KEPT: bool>(key: &'static str) -> Scenario {
        let how = if KEPT {
            "from kept subtrees"
        } else {
            "from every leaf (before log_nodes)"
        };
        Scenario {
            key,
            name: format!("inclusion proof {how}, tree of {N} leaves"),
            groups: PROOF,
            runs: Runs::Native(|_, _, w, d| inproc::proof_cell::<N, KEPT>(w, d)),
            report: rows(NATIVE_SQLITE, "–"),
        }
    }
    vec![
        cell::<4_097, true>("proof_kept_4k"),
        cell::<4_097, false>("proof_leaves_4k"),
        cell::<65_537, true>("proof_kept_64k"),
        cell::<65_537, false>("proof_leaves_64k"),
        cell::<262_145, true>("proof_kept_256k"),
        cell::<262_145, false>("proof_leaves_256k"),
    ]
}

/// The gateway's runtime in this process: the probe and the reads.
fn runtime() -> Vec<Scenario> {
    vec![
        Scenario {
            key: "inproc_fixed",
            name: "probe /fixed".into(),
            groups: INPROC,
            runs: in_runtime(MUNICIPALITY_URN, PROBE_FIXED),
            report: rows(RUNTIME, "municipality"),
        },
        Scenario {
            key: "inproc_list",
            name: "read list".into(),
            groups: INPROC,
            runs: in_runtime(MUNICIPALITY_URN, list(Persons::Sampled, None, false)),
            report: rows(RUNTIME, "municipality"),
        },
        Scenario {
            key: "inproc_get",
            name: "read get".into(),
            groups: INPROC,
            runs: in_runtime(MUNICIPALITY_URN, Requests::Get),
            report: rows(RUNTIME, "municipality"),
        },
        Scenario {
            key: "inproc_list_cert",
            name: BY_KIND.into(),
            groups: INPROC,
            runs: in_runtime(MUNICIPALITY_URN, list(Persons::WithTokens, CERT, false)),
            report: rows(RUNTIME, "municipality"),
        },
        Scenario {
            key: "inproc_list_cert_portal",
            name: BY_KIND.into(),
            groups: INPROC,
            runs: in_runtime(PORTAL_URN, list(Persons::WithTokens, CERT, true)),
            report: rows(RUNTIME, "portal + person token"),
        },
    ]
}

/// The single operations, the gateways the run starts itself (the
/// request-log A/B, PostgreSQL), then cold start with the compiled cache
/// and without it.
fn micro_and_cold() -> Vec<Scenario> {
    vec![
        Scenario {
            key: "micro",
            name: "single operations".into(),
            groups: INPROC,
            runs: Runs::Micro,
            report: Report::SingleOperations,
        },
        Scenario {
            key: "ops",
            name: "request log + metrics".into(),
            groups: OPS,
            runs: Runs::OpsAb,
            report: rows(GATEWAY_MTLS, "municipality"),
        },
        Scenario {
            key: "ab",
            name: "build A/B".into(),
            groups: AB,
            runs: Runs::BuildAb,
            report: rows(GATEWAY_MTLS, "municipality"),
        },
        Scenario {
            key: "pg",
            name: "PostgreSQL".into(),
            groups: PG,
            runs: Runs::Postgres,
            report: rows(GATEWAY_MTLS, "municipality"),
        },
        Scenario {
            key: "cold_cached",
            name: "compiled cache warm".into(),
            groups: COLD,
            runs: Runs::Cold {
                runs: |cfg| cfg.cold_runs,
                extra: &[],
            },
            report: Report::ColdStart,
        },
        Scenario {
            key: "cold_no_cache",
            name: "--no-cache (compile at start)".into(),
            groups: COLD,
            runs: Runs::Cold {
                runs: |cfg| cfg.cold_runs_no_cache,
                extra: &["--no-cache"],
            },
            report: Report::ColdStart,
        },
    ]
}

impl Scenario {
    /// Whether `--only` selects it.
    pub fn selected(&self, cfg: &Config) -> bool {
        self.groups.iter().any(|g| cfg.wants(g))
    }

    /// What it needs set up.
    pub fn needs(&self) -> Needs {
        match self.runs {
            Runs::Load { server, .. } => Needs::Server(server),
            Runs::Contended { .. } => Needs::Server(Server::Gateway),
            Runs::OpsAb | Runs::BuildAb | Runs::Postgres => Needs::FreshGateways,
            Runs::Native(_) => Needs::Store,
            Runs::Runtime { .. } => Needs::Runtime,
            Runs::Micro => Needs::ThisProcess,
            Runs::Cold { .. } => Needs::FreshGateways,
        }
    }

    /// Runs it on `place` (set up for its [`Needs`]) and records its figures.
    pub async fn run(&self, bench: &mut Bench<'_>, place: &Place, fx: &Fixture) -> Result<()> {
        let (w, d) = (bench.cfg.warmup(), bench.cfg.duration());
        match (&self.runs, &self.report) {
            (
                Runs::Load {
                    role,
                    send,
                    expect,
                    count,
                    ..
                },
                Report::Rows { server, identity },
            ) => {
                let up = place.server()?;
                let target = up.target(*role)?;
                let cell = measure::Cell {
                    key: self.key,
                    name: &self.name,
                    server,
                    identity,
                    make: send.over_http(fx, &target),
                    targets: vec![target],
                    expect: *expect,
                    count: *count,
                    pids: vec![up.server.pid],
                    parents: Vec::new(),
                };
                for &n in &bench.cfg.connections {
                    measure::load_cell(bench, &cell, n).await?;
                }
            }
            (Runs::Contended { reads }, Report::Rows { server, identity }) => {
                let up = place.server()?;
                let reader = up.target(MUNICIPALITY)?;
                let loader = up.target(Some(crate::setup::OTHER_MUNICIPALITY_ROLE))?;
                let bulk = Requests::BulkOther(bench.cfg.bulk_lines);
                let pair = measure::Contention {
                    key: self.key,
                    name: &self.name,
                    server,
                    identity,
                    reads: reads.over_http(fx, &reader),
                    reader,
                    bulk: bulk.over_http(fx, &loader),
                    loader,
                    pid: up.server.pid,
                };
                for &n in &bench.cfg.contend_connections {
                    measure::contended(bench, &pair, n).await?;
                }
            }
            (Runs::OpsAb, Report::Rows { .. }) => crate::ab::run(bench, fx).await?,
            (Runs::BuildAb, Report::Rows { .. }) => crate::abbuild::run(bench, fx).await?,
            (Runs::Postgres, Report::Rows { .. }) => {
                if let Err(e) = crate::pg::run_cells(bench, fx).await {
                    eprintln!("  PostgreSQL cells FAILED: {e:#}");
                    bench.out.failed.push(format!("pg: {e:#}"));
                }
            }
            (Runs::Native(f), Report::Rows { server, identity }) => {
                let m = f(place.store()?, fx, w, d)?;
                measure::in_process_row(bench, self.key, &self.name, server, identity, &m);
            }
            (Runs::Runtime { principal, send }, Report::Rows { server, identity }) => {
                let p = carehub_domain::Principal::parse_urn(principal)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let m = place.runtime()?.measure(&send.case(fx)?, &p, w, d).await?;
                measure::in_process_row(bench, self.key, &self.name, server, identity, &m);
            }
            (Runs::Micro, Report::SingleOperations) => measure::micro(bench, fx)?,
            (Runs::Cold { runs, extra }, Report::ColdStart) => {
                measure::cold_start(bench, &self.name, runs(bench.cfg), extra).await?;
            }
            _ => bail!("scenario {}: its figures cannot be reported so", self.key),
        }
        Ok(())
    }
}

impl Requests {
    /// The requests a load sends to `t` (request `i` of connection `c`).
    pub fn over_http(self, fx: &Fixture, t: &Target) -> MakeRequest {
        let t = t.clone();
        match self {
            Requests::Fixed(path) => {
                Arc::new(move |_, _| get(&t, path).body(empty()).expect("request"))
            }
            Requests::PeerFixed => Arc::new(move |_, _| {
                get(&t, "/fixed")
                    .header("spin-path-info", "/fixed")
                    .body(empty())
                    .expect("request")
            }),
            Requests::List {
                persons,
                kind,
                token,
            } => person_documents(
                t,
                fx.persons(persons),
                kind,
                token.then(|| fx.tokens.clone()),
            ),
            Requests::Get => one_document(t, fx.ids.clone()),
            Requests::Single => ingest_single(t, fx),
            Requests::Bulk(lines) => ingest_bulk(t, fx, lines),
            Requests::CarePlan => care_plan_single(t, fx),
            Requests::BulkCarePlans(lines) => care_plan_bulk(t, fx, lines),
            Requests::Csv => csv_import(t, fx),
            Requests::BulkOther(lines) => other_bulk(t, fx, lines),
        }
    }

    /// The same call through the runtime in this process.
    fn case(self, fx: &Fixture) -> Result<Case> {
        Ok(match self {
            Requests::Fixed("/probe/fixed") => Case::ProbeFixed,
            Requests::List {
                persons,
                kind,
                token,
            } => Case::ReadList {
                insured: fx.persons(persons),
                kind,
                tokens: token.then(|| fx.tokens.clone()),
            },
            Requests::Get => Case::ReadGet {
                ids: fx.ids.clone(),
            },
            other => bail!("{other:?} has no in-process call"),
        })
    }
}

impl Fixture {
    fn persons(&self, persons: Persons) -> Arc<Vec<String>> {
        match persons {
            Persons::Sampled => self.insured.clone(),
            Persons::WithTokens => self.token_persons.clone(),
        }
    }
}

/// A random pick from `from`, the same for the same connection and request.
fn pick(from: &[String], c: usize, i: u64) -> &str {
    let mut rng = Rng::new((c as u64) << 32 | i);
    &from[rng.below(from.len() as u64) as usize]
}

/// A random person's documents, optionally one kind, with the person's
/// token when `tokens` is given.
fn person_documents(
    t: Target,
    persons: Arc<Vec<String>>,
    kind: Option<&'static str>,
    tokens: Option<Arc<BTreeMap<String, String>>>,
) -> MakeRequest {
    let query = kind.map(|k| format!("?kind={k}")).unwrap_or_default();
    Arc::new(move |c, i| {
        let n = pick(&persons, c, i);
        let req = get(
            &t,
            &format!("/api/read/persons/131016/{n}/documents{query}"),
        );
        let req = match &tokens {
            Some(tokens) => req.header("authorization", format!("Bearer {}", tokens[n])),
            None => req,
        };
        req.body(empty()).expect("request")
    })
}

/// A random document.
fn one_document(t: Target, ids: Arc<Vec<String>>) -> MakeRequest {
    Arc::new(move |c, i| {
        let id = pick(&ids, c, i);
        get(&t, &format!("/api/read/documents/{id}"))
            .body(empty())
            .expect("request")
    })
}

/// The municipality kinds new documents are written as, in turn.
const WRITE_KINDS: [DocumentKind; 5] = [
    DocumentKind::CertificationApplication,
    DocumentKind::PhysicianOpinion,
    DocumentKind::HousingRenovation,
    DocumentKind::CertificationSurvey,
    DocumentKind::WelfareEquipmentPurchase,
];

/// One new document a request, with an `Idempotency-Key`.
fn ingest_single(t: Target, fx: &Fixture) -> MakeRequest {
    let (tpl, run_id) = (fx.templates.clone(), fx.run_id);
    Arc::new(move |c, i| {
        let kind = WRITE_KINDS[i as usize % WRITE_KINDS.len()];
        let person = format!("9{:09}", (c as u64 * 1000) + i % 1000);
        let key = format!("s{run_id}-{c}-{i}");
        http::Request::builder()
            .method("POST")
            .uri(format!(
                "https://localhost:{}/api/ingest/documents",
                t.addr.port()
            ))
            .header("host", format!("localhost:{}", t.addr.port()))
            .header("content-type", "application/json")
            .header("idempotency-key", &key)
            .body(Body::new(Bytes::from(tpl.line(kind, &person, &key))))
            .expect("request")
    })
}

/// `lines` new documents a request, as NDJSON.
fn ingest_bulk(t: Target, fx: &Fixture, lines: usize) -> MakeRequest {
    let (tpl, run_id) = (fx.templates.clone(), fx.run_id);
    Arc::new(move |c, i| {
        let mut body = Vec::with_capacity(lines * 2048);
        for j in 0..lines as u64 {
            let kind = WRITE_KINDS[j as usize % WRITE_KINDS.len()];
            let person = format!(
                "8{:09}",
                (c as u64 * 100_000) + (i * lines as u64 + j) % 100_000
            );
            body.extend_from_slice(
                tpl.line(kind, &person, &format!("b{run_id}-{c}-{i}-{j}"))
                    .as_bytes(),
            );
            body.push(b'\n');
        }
        data::bulk_request(&t, body)
    })
}

/// A new version of a dataset person's care plan, as JSON.
fn care_plan_single(t: Target, fx: &Fixture) -> MakeRequest {
    let (tpl, run_id, persons) = (fx.templates.clone(), fx.run_id, fx.insured.clone());
    Arc::new(move |c, i| {
        let person = pick(&persons, c, i);
        let key = format!("j{run_id}-{c}-{i}");
        http::Request::builder()
            .method("POST")
            .uri(format!(
                "https://localhost:{}/api/ingest/documents",
                t.addr.port()
            ))
            .header("host", format!("localhost:{}", t.addr.port()))
            .header("content-type", "application/json")
            .header("idempotency-key", &key)
            .body(Body::new(Bytes::from(tpl.line(
                DocumentKind::CarePlan,
                person,
                &key,
            ))))
            .expect("request")
    })
}

/// `lines` new care plans of dataset persons, as NDJSON.
fn care_plan_bulk(t: Target, fx: &Fixture, lines: usize) -> MakeRequest {
    let (tpl, run_id, persons) = (fx.templates.clone(), fx.run_id, fx.insured.clone());
    Arc::new(move |c, i| {
        let mut body = Vec::with_capacity(lines * 2048);
        for j in 0..lines as u64 {
            let person = pick(&persons, c, i * lines as u64 + j);
            let key = format!("k{run_id}-{c}-{i}-{j}");
            body.extend_from_slice(tpl.line(DocumentKind::CarePlan, person, &key).as_bytes());
            body.push(b'\n');
        }
        data::bulk_request(&t, body)
    })
}

/// One plan's standard CSV files for a dataset person, a new record id
/// each time (a new version of the person's plan of that date).
fn csv_import(t: Target, fx: &Fixture) -> MakeRequest {
    let (csv, run_id, persons) = (fx.csv.clone(), fx.run_id, fx.insured.clone());
    Arc::new(move |c, i| {
        let person = pick(&persons, c, i);
        let body = csv.as_ref().map_or_else(Vec::new, |plan| {
            plan.zip(data::INSURER, person, &format!("B{run_id}-{c}-{i}"))
        });
        http::Request::builder()
            .method("POST")
            .uri(format!(
                "https://localhost:{}/api/ingest/care-plans:csv",
                t.addr.port()
            ))
            .header("host", format!("localhost:{}", t.addr.port()))
            .header("content-type", "application/zip")
            .body(Body::new(Bytes::from(body)))
            .expect("request")
    })
}

/// `lines` new documents of the second municipality's own persons (new
/// persons, numbers from 7000000000 up), as NDJSON.
fn other_bulk(t: Target, fx: &Fixture, lines: usize) -> MakeRequest {
    let (tpl, run_id) = (fx.templates_other.clone(), fx.run_id);
    Arc::new(move |c, i| {
        let mut body = Vec::with_capacity(lines * 2048);
        for j in 0..lines as u64 {
            let kind = WRITE_KINDS[j as usize % WRITE_KINDS.len()];
            let person = format!(
                "7{:09}",
                (c as u64 * 100_000) + (i * lines as u64 + j) % 100_000
            );
            body.extend_from_slice(
                tpl.line(kind, &person, &format!("a{run_id}-{c}-{i}-{j}"))
                    .as_bytes(),
            );
            body.push(b'\n');
        }
        data::bulk_request(&t, body)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn quick() -> Config {
        let cli = crate::Cli::parse_from(["carehub-bench", "--quick"]);
        Config::from(cli.run).unwrap()
    }

    #[test]
    fn keys_are_unique_and_groups_known() {
        let table = table(&quick());
        let mut keys: Vec<&str> = table.iter().map(|s| s.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), table.len());
        for s in &table {
            assert!(!s.groups.is_empty(), "{}", s.key);
            for g in s.groups {
                assert!(GROUPS.contains(g), "{}: {g}", s.key);
            }
        }
    }

    #[test]
    fn each_need_is_set_up_once() {
        // `run` sets a need up when the next scenario needs something else
        // than the last: scenarios that share one must be neighbours.
        let table = table(&quick());
        let mut seen: Vec<Needs> = Vec::new();
        for s in &table {
            if seen.last() != Some(&s.needs()) {
                assert!(
                    !seen.contains(&s.needs()),
                    "{} needs {:?} again",
                    s.key,
                    s.needs()
                );
                seen.push(s.needs());
            }
        }
    }

    #[test]
    fn every_scenario_is_reported_as_it_runs() {
        let fx = Fixture {
            run_id: 1,
            templates: Arc::new(data::Templates::new()),
            insured: Arc::new(vec!["0000000001".into()]),
            ids: Arc::new(Vec::new()),
            tokens: Arc::new(BTreeMap::new()),
            token_persons: Arc::new(Vec::new()),
            templates_other: Arc::new(data::Templates::new()),
            csv: None,
        };
        for s in table(&quick()) {
            let fits = match (&s.runs, &s.report) {
                (
                    Runs::Load { .. }
                    | Runs::Native(_)
                    | Runs::Contended { .. }
                    | Runs::OpsAb
                    | Runs::BuildAb
                    | Runs::Postgres,
                    Report::Rows { .. },
                )
                | (Runs::Micro, Report::SingleOperations)
                | (Runs::Cold { .. }, Report::ColdStart) => true,
                (Runs::Runtime { send, .. }, Report::Rows { .. }) => send.case(&fx).is_ok(),
                _ => false,
            };
            assert!(fits, "{}", s.key);
        }
    }
}
