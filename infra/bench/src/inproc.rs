//! The breakdown, measured inside this process on the load generator's core
//! with no network: the gateway's own runtime (`carehub::runtime::Runtime`)
//! dispatching to a fresh instance per call without TLS or HTTP; the read
//! operation's handler compiled natively against the same database; floor
//! (d), the same SQL natively through the store; and single operations
//! (assertion signing and verification, person-token verification).

use crate::client::Measured;
use anyhow::{Context, Result, bail};
use bytes::Bytes;
use carehub::runtime::{Cache, Limits, Runtime};
use carehub_domain::policy::read::{PersonFacts, Reader, readable_kinds};
use carehub_domain::{DocumentId, Principal};
use carehub_read::handler::ListParams;
use carehub_store::native::NativeDb;
use carehub_store::sql::SqlStore;
use carehub_store::{ConsentStore, DocumentStore, ListQuery};
use http_body_util::{BodyExt as _, Full};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Measures `f` back to back for `duration` after `warmup`; `f` returns the
/// bytes it produced.
pub fn time_sync(
    warmup: Duration,
    duration: Duration,
    mut f: impl FnMut(u64) -> Result<usize>,
) -> Result<Measured> {
    let start = Instant::now();
    let mut i = 0;
    while start.elapsed() < warmup {
        f(i)?;
        i += 1;
    }
    let from = Instant::now();
    let ticks = crate::sys::clock_ticks();
    let c0 = crate::sys::cpu_seconds("self", ticks);
    let mut m = Measured::default();
    loop {
        let t = Instant::now();
        if t - from >= duration {
            break;
        }
        m.body_bytes += f(i)? as u64;
        i += 1;
        m.latencies.push(t.elapsed().as_nanos() as u64);
        m.ok += 1;
    }
    m.window = from.elapsed();
    m.client_cpu = c0
        .zip(crate::sys::cpu_seconds("self", ticks))
        .map(|(a, b)| b - a);
    m.latencies.sort_unstable();
    Ok(m)
}

/// The gateway's runtime, loaded in this process from the bench manifest.
pub struct InProcess {
    runtime: Runtime,
    asserter: carehub::edge::Asserter,
    probe: usize,
    read: usize,
}

impl InProcess {
    /// Loads every component of `manifest` (from the compiled cache).
    pub fn load(manifest: &Path, state: &Path, cache: &Path) -> Result<InProcess> {
        let manifest = carehub::manifest::Manifest::load(manifest)?;
        // The development keys, as `carehub up` provides them.
        let provided =
            carehub::provided_variables(&carehub::devpki::DevPaths::new(state), &|_| None)?;
        let vars =
            carehub::variables::resolve_application(&manifest.variables, &|_| None, &provided)?;
        // Every label a component names (the access log's too), as the
        // gateway opens them.
        let dbs = Arc::new(carehub::host::sqlite::Databases::open(
            &state.join("data"),
            manifest.sqlite_labels(),
        )?);
        let runtime = Runtime::load(
            &manifest,
            &vars,
            dbs,
            Limits {
                deadline: Duration::from_secs(10),
                max_instance_memory: 128 * 1024 * 1024,
                max_instances: 128,
            },
            &Cache::Dir(cache.to_owned()),
        )?;
        let key = vars.get("assertion_key").context("assertion_key")?;
        // As the gateway: portal person tokens verified here, the verdict
        // carried in the assertion.
        let pem = vars
            .get("person_token_public_key")
            .context("person_token_public_key")?;
        let issuer = vars
            .get("person_token_issuer")
            .map_or(carehub_guest::person_token::DEFAULT_ISSUER, String::as_str);
        Ok(InProcess {
            probe: runtime.index_of("probe").context("no probe component")?,
            read: runtime.index_of("read").context("no read component")?,
            runtime,
            asserter: carehub::edge::Asserter::new(key)?
                .with_person_tokens(carehub::edge::PersonTokens::new(pem, issuer)?),
        })
    }

    /// One call as the gateway makes it after routing: the assertion and
    /// Spin's headers set, the body collected.
    async fn call(
        &self,
        index: usize,
        route: &str,
        path: &str,
        path_info: &str,
        principal: &Principal,
        extra: Option<(&str, &str)>,
    ) -> Result<(u16, Bytes)> {
        let url = format!("https://localhost{path}");
        let mut client_headers = http::HeaderMap::new();
        if let Some((k, v)) = extra {
            client_headers.insert(http::HeaderName::from_bytes(k.as_bytes())?, v.parse()?);
        }
        let mut req = http::Request::builder()
            .method("GET")
            .uri(&url)
            .header("host", "localhost")
            .header(
                "carehub-assertion",
                self.asserter.assert_request(principal, &client_headers)?,
            )
            .header("spin-full-url", &url)
            .header("spin-path-info", path_info)
            .header("spin-matched-route", route)
            .header("spin-component-route", route.trim_end_matches("/..."))
            .header("spin-raw-component-route", route)
            .header("spin-base-path", "/")
            .header("spin-client-addr", "127.0.0.1:1");
        if let Some((k, v)) = extra {
            req = req.header(k, v);
        }
        let body = Full::new(Bytes::new())
            .map_err(|never: Infallible| -> wasmtime_wasi_http::Error { match never {} });
        let resp = self
            .runtime
            .handle(index, req.body(body)?)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?
            .to_bytes();
        Ok((status, body))
    }

    /// Measures one kind of call back to back.
    pub async fn measure(
        &self,
        case: &Case,
        principal: &Principal,
        warmup: Duration,
        duration: Duration,
    ) -> Result<Measured> {
        let start = Instant::now();
        let mut i = 0u64;
        let run = |i: u64| {
            let (index, route, path, path_info, extra) = case.request(self, i);
            async move {
                let (status, body) = self
                    .call(
                        index,
                        route,
                        &path,
                        &path_info,
                        principal,
                        extra.as_ref().map(|(k, v)| (k.as_str(), v.as_str())),
                    )
                    .await?;
                if status != 200 {
                    bail!(
                        "in-process call answered {status}: {}",
                        String::from_utf8_lossy(&body)
                    );
                }
                anyhow::Ok(body.len())
            }
        };
        while start.elapsed() < warmup {
            run(i).await?;
            i += 1;
        }
        let ticks = crate::sys::clock_ticks();
        let c0 = crate::sys::cpu_seconds("self", ticks);
        let from = Instant::now();
        let mut m = Measured::default();
        loop {
            let t = Instant::now();
            if t - from >= duration {
                break;
            }
            m.body_bytes += run(i).await? as u64;
            i += 1;
            m.latencies.push(t.elapsed().as_nanos() as u64);
            m.ok += 1;
        }
        m.window = from.elapsed();
        m.client_cpu = c0
            .zip(crate::sys::cpu_seconds("self", ticks))
            .map(|(a, b)| b - a);
        m.latencies.sort_unstable();
        Ok(m)
    }
}

/// What an in-process case calls.
pub enum Case {
    /// The probe's fixed answer.
    ProbeFixed,
    /// A person's list (optionally one kind, optionally with a person token).
    ReadList {
        /// Insured numbers to pick from.
        insured: Arc<Vec<String>>,
        /// `?kind=` filter.
        kind: Option<&'static str>,
        /// Person tokens by insured number (portal).
        tokens: Option<Arc<BTreeMap<String, String>>>,
    },
    /// One document.
    ReadGet {
        /// Document ids to pick from.
        ids: Arc<Vec<String>>,
    },
}

type Call = (
    usize,
    &'static str,
    String,
    String,
    Option<(String, String)>,
);

impl Case {
    fn request(&self, p: &InProcess, i: u64) -> Call {
        match self {
            Case::ProbeFixed => (
                p.probe,
                "/probe/...",
                "/probe/fixed".into(),
                "/fixed".into(),
                None,
            ),
            Case::ReadList {
                insured,
                kind,
                tokens,
            } => {
                let n = &insured[i as usize % insured.len()];
                let q = kind.map(|k| format!("?kind={k}")).unwrap_or_default();
                let info = format!("/persons/131016/{n}/documents");
                let auth = tokens
                    .as_ref()
                    .map(|t| ("authorization".to_owned(), format!("Bearer {}", t[n])));
                (
                    p.read,
                    "/api/read/...",
                    format!("/api/read{info}{q}"),
                    info,
                    auth,
                )
            }
            Case::ReadGet { ids } => {
                let id = &ids[i as usize % ids.len()];
                let info = format!("/documents/{id}");
                (
                    p.read,
                    "/api/read/...",
                    format!("/api/read{info}"),
                    info,
                    None,
                )
            }
        }
    }
}

/// The store over the gateway's database file, opened as the gateway opens
/// it: with the access log's own file beside it (label `accesslog`) when
/// there is one, as every gateway since issue 12 keeps it.
pub fn native_store(db: &Path) -> Result<SqlStore<NativeDb>> {
    let open = |path: &Path| -> Result<NativeDb> {
        Ok(NativeDb(carehub::host::sqlite::Pool::connect(path)?))
    };
    let log = carehub::host::sqlite::file_of(
        db.parent().unwrap_or(Path::new(".")),
        carehub::ACCESSLOG_LABEL,
    );
    Ok(if log.exists() {
        SqlStore::with_log(open(db)?, open(&log)?)
    } else {
        SqlStore::new(open(db)?)
    })
}

/// The municipality as a reader.
pub fn municipality_reader() -> Result<Reader> {
    let p = Principal::parse_urn(MUNICIPALITY).map_err(|e| anyhow::anyhow!("{e}"))?;
    Reader::new(p, None).context("a municipality reads")
}

/// Floor (d), list: the list's reads through the store (the person's
/// consent, then the documents with their current content), rows read in
/// full. The access-log append the handler makes after it is not included.
pub fn sqlite_list(
    store: &SqlStore<NativeDb>,
    reader: &Reader,
    insured: &[String],
    warmup: Duration,
    duration: Duration,
) -> Result<Measured> {
    let any = crate::data::person(&insured[0]);
    let kinds = readable_kinds(reader, &PersonFacts::not_yet_known(), &any);
    time_sync(warmup, duration, |i| {
        let person = crate::data::person(&insured[i as usize % insured.len()]);
        store
            .consent_state(&person)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let q = ListQuery {
            kinds: &kinds,
            authored_by: Some(&reader.principal),
            only_kind: None,
            before_seq: None,
            limit: carehub_read::handler::DEFAULT_LIMIT + 1,
        };
        let rows = store
            .person_documents(&person, &q)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(rows.iter().map(|r| r.content.len()).sum())
    })
}

/// Entries of the access log the proof cells prove in: every one a leaf.
pub const PROOF_LOG_ENTRIES: usize = 262_145;

/// The proof cells' access log: [`PROOF_LOG_ENTRIES`] entries about 1,000
/// persons in an in-memory database, made leaves by the checkpoint job,
/// built at the first proof cell of the run.
fn proof_log() -> Result<&'static std::sync::Mutex<SqlStore<NativeDb>>> {
    static LOG: std::sync::OnceLock<std::sync::Mutex<SqlStore<NativeDb>>> =
        std::sync::OnceLock::new();
    if let Some(log) = LOG.get() {
        return Ok(log);
    }
    use carehub_domain::{AccessLogEntry, CheckpointSigner, InsuredNumber, InsurerNumber};
    let started = Instant::now();
    let store = SqlStore::new(NativeDb::migrated());
    let insurer = InsurerNumber::parse("131016").map_err(|e| anyhow::anyhow!("{e}"))?;
    let reader = Principal::parse_urn(MUNICIPALITY).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut made = 0;
    while made < PROOF_LOG_ENTRIES {
        let batch: Vec<AccessLogEntry> = (made..(made + 8192).min(PROOF_LOG_ENTRIES))
            .map(|i| {
                let insured =
                    InsuredNumber::parse(&format!("{:010}", 1 + i % 1000)).expect("ten digits");
                AccessLogEntry::listing(
                    "2026-12-04T00:00:00Z",
                    reader.clone(),
                    carehub_domain::PersonRef::new(insurer.clone(), insured),
                )
            })
            .collect();
        carehub_store::log_access(&store, &batch).map_err(|e| anyhow::anyhow!("{e}"))?;
        made += batch.len();
    }
    let signer = CheckpointSigner::from_seed(&[9; 32]);
    let run = carehub_store::make_checkpoint(&store, &signer, "2026-12-04T00:00:00Z")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if run.new_leaves != PROOF_LOG_ENTRIES as u64 {
        bail!(
            "the proof log has {} leaves, not {PROOF_LOG_ENTRIES}",
            run.new_leaves
        );
    }
    eprintln!(
        "carehub-bench: built the proof cells' access log ({PROOF_LOG_ENTRIES} entries, all leaves) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(LOG.get_or_init(|| std::sync::Mutex::new(store)))
}

const MUNICIPALITY: &str = "urn:carehub:municipality:131016";

/// Inclusion proofs of leaves spread over the tree of the first `N`
/// leaves of the proof log: from the kept subtrees (`KEPT`), or from every
/// leaf of the tree (what the read component did before `log_nodes`). The
/// answer size is the proof's bytes.
pub fn proof_cell<const N: u64, const KEPT: bool>(
    warmup: Duration,
    duration: Duration,
) -> Result<Measured> {
    use carehub_store::CheckpointStore as _;
    let log = proof_log()?.lock().expect("proof log lock");
    let store = &*log;
    let err = |e: carehub_store::StoreError| anyhow::anyhow!("{e}");
    time_sync(warmup, duration, |i| {
        let leaf = i.wrapping_mul(7919) % N;
        let proof = if KEPT {
            carehub_store::checkpoint::inclusion_proof(store, leaf, N).map_err(err)?
        } else {
            let leaves = store.leaf_hashes(N).map_err(err)?;
            carehub_domain::merkle::inclusion_proof(leaf as usize, &leaves)
        };
        Ok(proof.context("leaf out of range")?.len() * 32)
    })
}

/// Floor (d), get: the reads of one document (document, consent, current
/// content, version history); the access-log append is not included.
pub fn sqlite_get(
    store: &SqlStore<NativeDb>,
    ids: &[String],
    warmup: Duration,
    duration: Duration,
) -> Result<Measured> {
    let ids: Vec<DocumentId> = ids
        .iter()
        .map(|s| DocumentId::parse(s).map_err(|e| anyhow::anyhow!("{e}")))
        .collect::<Result<_>>()?;
    time_sync(warmup, duration, |i| {
        let id = &ids[i as usize % ids.len()];
        let err = |e: carehub_store::StoreError| anyhow::anyhow!("{e}");
        let rec = store
            .document(id)
            .map_err(err)?
            .context("document vanished")?;
        store.consent_state(&rec.person).map_err(err)?;
        let content = store
            .version_content(rec.seq, rec.current_version)
            .map_err(err)?
            .unwrap_or_default();
        let versions = store.versions(rec.seq).map_err(err)?;
        Ok(content.len() + versions.len())
    })
}

/// The read handler natively: policy, SQL, JSON and the access-log append,
/// no wasm, no HTTP.
pub fn native_list(
    store: &SqlStore<NativeDb>,
    reader: &Reader,
    insured: &[String],
    warmup: Duration,
    duration: Duration,
) -> Result<Measured> {
    let params = ListParams {
        kind: None,
        limit: carehub_read::handler::DEFAULT_LIMIT,
        before_seq: None,
    };
    time_sync(warmup, duration, |i| {
        let person = crate::data::person(&insured[i as usize % insured.len()]);
        let now = carehub_guest::clock::now_rfc3339();
        let reply = carehub_read::handler::list(store, reader, &person, &params, &now);
        if reply.status != 200 {
            bail!("native list answered {}", reply.status);
        }
        Ok(reply.body.len())
    })
}

/// The read handler natively, one document.
pub fn native_get(
    store: &SqlStore<NativeDb>,
    reader: &Reader,
    ids: &[String],
    warmup: Duration,
    duration: Duration,
) -> Result<Measured> {
    let ids: Vec<DocumentId> = ids
        .iter()
        .map(|s| DocumentId::parse(s).map_err(|e| anyhow::anyhow!("{e}")))
        .collect::<Result<_>>()?;
    time_sync(warmup, duration, |i| {
        let now = carehub_guest::clock::now_rfc3339();
        let reply =
            carehub_read::handler::one(store, reader, &ids[i as usize % ids.len()], None, &now);
        if reply.status != 200 {
            bail!("native get answered {}", reply.status);
        }
        Ok(reply.body.len())
    })
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Single operations natively: name → measured.
pub fn micro(
    pki: &Path,
    person_token: &str,
    warmup: Duration,
    duration: Duration,
) -> Result<Vec<(&'static str, Measured)>> {
    let key = std::fs::read_to_string(pki.join("assertion.key"))?
        .trim()
        .to_owned();
    let asserter = carehub::edge::Asserter::new(&key)?;
    let principal = Principal::parse_urn(MUNICIPALITY).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = Vec::new();
    out.push((
        "edge: sign assertion (HS256)",
        time_sync(warmup, duration, |_| Ok(asserter.assert(&principal)?.len()))?,
    ));
    let token = asserter.assert(&principal)?;
    let t = now();
    out.push((
        "component: verify assertion (HS256), native",
        time_sync(warmup, duration, |_| {
            carehub_guest::assertion::verify_token(&token, key.as_bytes(), t)
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            Ok(0)
        })?,
    ));
    let pem = std::fs::read_to_string(pki.join("person-idp.pub.pem"))?;
    let tokens = carehub::edge::PersonTokens::new(&pem, "carehub-dev-idp")?;
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {person_token}").parse()?,
    );
    out.push((
        "edge: person-token verdict, cached (after the first call)",
        time_sync(warmup, duration, |_| match tokens.check(&headers, t) {
            carehub_guest::person_token::EdgePersonToken::Verified { .. } => Ok(0),
            other => anyhow::bail!("person token refused: {other:?}"),
        })?,
    ));
    out.push((
        "component: parse IdP key + verify person token (ES256), native",
        time_sync(warmup, duration, |_| {
            let v = carehub_guest::person_token::Verifier::from_pem(&pem, "carehub-dev-idp")
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            v.verify_token(person_token, t)
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            Ok(0)
        })?,
    ));
    // The text each access-log append hashes, written directly (what the
    // components do) and through a `serde_json::Value` (what they did
    // before), side by side: a portal read's entry, every common field set.
    let person: carehub_domain::PersonRef = serde_json::from_value(
        serde_json::json!({"insurer_number": "131016", "insured_number": "0000123456"}),
    )?;
    let mut entry = carehub_domain::AccessLogEntry::listing(
        "2026-12-03T06:30:00.123456Z",
        principal.clone(),
        person,
    );
    entry.kind = Some(carehub_domain::DocumentKind::InsuranceCertificate);
    entry.document_ids = vec![
        DocumentId::parse("doc_0123456789abcdef0123456789abcdef")
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    ];
    entry.request_id = Some("0b6f6d2c-3c1e-4a55-9d1e-8f0c2a8e7b11".into());
    out.push((
        "component: access-log entry's canonical text, direct, native",
        time_sync(warmup, duration, |_| Ok(entry.canonical_json().len()))?,
    ));
    out.push((
        "component: the same through serde_json::Value (before), native",
        time_sync(warmup, duration, |_| {
            Ok(carehub_domain::canonical_json(&serde_json::to_value(&entry)?).len())
        })?,
    ));
    out.push((
        REQUEST_LOG_AND_METRICS,
        request_log_and_metrics(&principal, warmup, duration)?,
    ));
    Ok(out)
}

/// The micro row of what the request log and the metrics add to one
/// answer (issue 13's cost, beside the read's own cost in the same run).
pub const REQUEST_LOG_AND_METRICS: &str =
    "gateway: request log line (JSON) + metrics of one answer, incl. writer thread";

/// What `--log-format json` and `--metrics-listen` add to one answered
/// read, through the gateway's own code: the in-flight gauge, the instance
/// creation histogram, the response body wrapped in `telemetry::Observed`
/// and read to its end, which counts the request and its latency and
/// formats the JSON line; the line goes through the gateway's subscriber
/// and its writer thread (on this core too) to `/dev/null`. The request id
/// is made on both sides of the A/B, so it is left out.
fn request_log_and_metrics(
    principal: &Principal,
    warmup: Duration,
    duration: Duration,
) -> Result<Measured> {
    use carehub::metrics::{Metrics, Name, Store};
    use carehub::telemetry::{self, Exchange, LogFormat, Observed, Routed};
    use std::future::Future as _;
    let devnull = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
    let (subscriber, _flush) = telemetry::subscriber(
        LogFormat::Json,
        tracing_subscriber::EnvFilter::new("warn,carehub::request=info"),
        std::io::BufWriter::with_capacity(64 << 10, devnull),
    );
    let metrics = Metrics::new(Store::None);
    let conn = Arc::new(carehub::server::Connection::new(
        Some(carehub::edge::PeerIdentity::Principal(principal.clone())),
        "127.0.0.1:40000".parse()?,
        "127.0.0.1:8443".parse()?,
    ));
    let component = Name(Arc::from("read"));
    let routed = Routed {
        route: Arc::from("/api/read/..."),
        component: component.clone(),
    };
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    let request_id = http::HeaderValue::from_static("0b6f6d2c-3c1e-4a55-9d1e-8f0c2a8e7b11");
    let answer = Bytes::from(vec![b'x'; 1120]);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    tracing::subscriber::with_default(subscriber, || {
        time_sync(warmup, duration, |_| {
            let started = Instant::now();
            let in_flight = carehub::server::InFlightGauge::start(metrics.clone());
            metrics.observe_instance_creation(&component, 0.00005);
            let exchange = Exchange {
                conn: conn.clone(),
                request_id: request_id.clone(),
                method: http::Method::GET,
                routed: Some(routed.clone()),
                status: 200,
                started,
                log: true,
                metrics: Some(metrics.clone()),
                guards: Box::new(in_flight),
            };
            let mut body = Observed::new(Full::new(answer.clone()), &headers, exchange);
            let mut sent = 0;
            while let std::task::Poll::Ready(Some(frame)) =
                std::pin::pin!(body.frame()).poll(&mut cx)
            {
                sent += frame?.into_data().map_or(0, |d| d.len());
            }
            Ok(sent)
        })
    })
}
