//! Floor (c), the peer: a component served the way `wasmtime serve` and
//! wasmtime-wasi-http's documented example serve it — `p2::bindings::ProxyPre`
//! pre-instantiated once, a fresh `Store` and instance per request, hyper's
//! HTTP/1.1 server with keep-alive — and nothing else: no routing, no
//! identity assertion, no Spin headers, no concurrency limit.
//!
//! For a fair comparison it uses the gateway's own wasmtime configuration
//! (`carehub::runtime::engine`: pooling allocator, epoch interruption, the
//! same pool sizes and memory cap), the gateway's compiled-component cache,
//! and, with `--tls-pki`, the gateway's own TLS setup
//! (`carehub::edge::server_config`: TLS 1.3, client certificates verified
//! against the dev CA). The probe also imports Spin's `sqlite` and
//! `variables`, which the proxy world lacks; they are linked from the
//! gateway's host modules with nothing granted (`/fixed` calls neither).
//! wasmtime's `define_unknown_imports_as_traps` (`wasmtime serve
//! --trap-unknown-imports`) did not work here: `handle` failed with
//! "resource type mismatch", apparently because it defines its own trapping
//! copy of `wasi:http/types@0.2.0`, which the linker provides as 0.2.6.

use anyhow::{Context, Result, anyhow};
use carehub::host::sqlite::{Databases, SqliteCtx, SqliteView};
use carehub::host::variables::VariablesView;
use carehub::runtime::{Cache, Limits};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Options of `carehub-bench peer`.
#[derive(Debug, Clone, clap::Args)]
pub struct PeerArgs {
    /// The component to serve.
    #[arg(long)]
    pub wasm: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Serve TLS with the gateway's setup from this dev PKI directory
    /// (ca.pem, server.pem, server.key); plain HTTP without it.
    #[arg(long)]
    pub tls_pki: Option<PathBuf>,
    /// Compiled-component cache directory (the gateway's).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Instance slots, as the gateway sizes them (2 × its concurrency limit).
    #[arg(long, default_value_t = 128)]
    pub max_instances: u32,
}

struct PeerState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    limits: StoreLimits,
    sqlite: SqliteCtx,
    variables: Arc<HashMap<String, String>>,
}

impl WasiView for PeerState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for PeerState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: Default::default(),
        }
    }
}

struct Peer {
    pre: ProxyPre<PeerState>,
    engine: Engine,
    limits: Limits,
    scheme: Scheme,
    sqlite: SqliteCtx,
    variables: Arc<HashMap<String, String>>,
}

const EPOCH_TICK: Duration = Duration::from_millis(10);

impl Peer {
    async fn handle(
        &self,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> Result<hyper::Response<HyperOutgoingBody>> {
        let mut wasi = WasiCtx::builder();
        wasi.inherit_stderr();
        let mut store = Store::new(
            &self.engine,
            PeerState {
                wasi: wasi.build(),
                http: WasiHttpCtx::new(),
                table: ResourceTable::new(),
                limits: StoreLimitsBuilder::new()
                    .memory_size(self.limits.max_instance_memory)
                    .instances(64)
                    .build(),
                sqlite: self.sqlite.clone(),
                variables: self.variables.clone(),
            },
        );
        store.limiter(|s| &mut s.limits);
        let ticks = (self.limits.deadline.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let req = store
            .data_mut()
            .http()
            .new_incoming_request(self.scheme.clone(), req)?;
        let out = store.data_mut().http().new_response_outparam(sender)?;
        let pre = self.pre.clone();
        let task = tokio::task::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
        });
        match receiver.await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => {
                let e = match task.await {
                    Ok(Ok(())) => anyhow!("guest never invoked `response-outparam::set`"),
                    Ok(Err(e)) => e.into(),
                    Err(e) => e.into(),
                };
                Err(e.context("guest never invoked `response-outparam::set`"))
            }
        }
    }
}

/// Serves until killed.
pub fn serve(args: PeerArgs) -> Result<()> {
    let started = Instant::now();
    let limits = Limits {
        deadline: Duration::from_secs(10),
        max_instance_memory: 128 * 1024 * 1024,
        max_instances: args.max_instances,
    };
    let engine = carehub::runtime::engine(&limits)?;
    let cache = match &args.cache_dir {
        Some(d) => Cache::Dir(d.clone()),
        None => Cache::Off,
    };
    let component = carehub::runtime::load_component(&engine, &args.wasm, &cache)?;
    let mut linker: Linker<PeerState> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    carehub::host::sqlite::add_to_linker(&mut linker, |s: &mut PeerState| SqliteView {
        ctx: &s.sqlite,
        table: &mut s.table,
    })?;
    carehub::host::variables::add_to_linker(&mut linker, |s: &mut PeerState| VariablesView {
        values: &s.variables,
    })?;
    let no_databases = std::env::temp_dir().join(format!("carehub-peer-{}", std::process::id()));
    let sqlite = SqliteCtx {
        allowed: Arc::new(HashSet::new()),
        databases: Arc::new(Databases::open(&no_databases, [])?),
    };
    let _ = std::fs::remove_dir(&no_databases);
    let pre = ProxyPre::new(linker.instantiate_pre(&component)?)?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let engine = engine.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        });
    }
    let tls = match &args.tls_pki {
        Some(pki) => Some(
            carehub::tls::Reloadable::load(carehub::tls::TlsFiles {
                ca: pki.join("ca.pem"),
                cert: pki.join("server.pem"),
                key: pki.join("server.key"),
                crls: Vec::new(),
            })
            .context("the gateway's TLS configuration")?
            .acceptor(),
        ),
        None => None,
    };
    let peer = Arc::new(Peer {
        pre,
        engine,
        limits,
        sqlite,
        variables: Arc::new(HashMap::new()),
        scheme: if tls.is_some() {
            Scheme::Https
        } else {
            Scheme::Http
        },
    });
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(accept_loop(peer, args.listen, tls, started))
}

async fn accept_loop(
    peer: Arc<Peer>,
    listen: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    started: Instant,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!(
        "peer: serving 1 component(s) on {scheme}://{} (ready in {} ms)",
        listener.local_addr()?,
        started.elapsed().as_millis()
    );
    use std::io::Write as _;
    std::io::stdout().flush()?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let peer = peer.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let peer = peer.clone();
                async move {
                    let r = peer.handle(req).await;
                    if let Err(e) = &r {
                        eprintln!("peer: request failed: {e:#}");
                    }
                    r
                }
            });
            let builder = {
                let mut b = hyper::server::conn::http1::Builder::new();
                b.keep_alive(true);
                b
            };
            let result = match tls {
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(s) => {
                        builder
                            .serve_connection(hyper_util::rt::TokioIo::new(s), service)
                            .await
                    }
                    Err(_) => return,
                },
                None => {
                    builder
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await
                }
            };
            if let Err(e) = result {
                eprintln!("peer: connection ended: {e}");
            }
        });
    }
}
