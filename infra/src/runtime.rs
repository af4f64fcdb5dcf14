//! Serving components on wasmtime: one engine, each component compiled (or
//! loaded from the compiled cache) and pre-instantiated once at start, then a
//! fresh instance in a fresh store for every request. One epoch ticker
//! enforces the per-request deadline; the pooling allocator caps memory per
//! instance and the number of live instances.

use crate::error::{Doing, Error, Result};
use crate::host::outbound::OutboundPolicy;
use crate::host::sqlite::{Databases, SqliteCtx, SqliteView};
use crate::host::variables::VariablesView;
use crate::manifest::Manifest;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimits,
    StoreLimitsBuilder, Trap, UpdateDeadline,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// How often the epoch ticks: how long a computing guest runs between
/// yields, and the granularity of the deadline.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Bytes of each pooled memory and table slot reset in place rather than
/// decommitted between instances.
const KEEP_RESIDENT: usize = 4 << 20;

/// Limits that apply to every request.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Wall-clock budget of one request inside the component.
    pub deadline: Duration,
    /// Linear memory cap per instance, in bytes.
    pub max_instance_memory: usize,
    /// Instances that may be live at once (the concurrency limit sizes the pool).
    pub max_instances: u32,
}

/// What every store holds: WASI, wasi:http and the Spin interfaces.
pub struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    outbound: OutboundPolicy,
    sqlite: SqliteCtx,
    variables: Arc<HashMap<String, String>>,
    limits: StoreLimits,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}

/// One component, ready to instantiate.
pub struct LoadedComponent {
    /// The component id from `spin.toml`.
    pub id: String,
    /// The id as a label for logs and metrics.
    name: crate::metrics::Name,
    pre: ProxyPre<State>,
    variables: Arc<HashMap<String, String>>,
    sqlite: SqliteCtx,
    outbound: OutboundPolicy,
}

/// The loaded application.
pub struct Runtime {
    engine: Engine,
    components: Vec<LoadedComponent>,
    limits: Limits,
    ticker_stop: Arc<AtomicBool>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
    background: Option<BackgroundLane>,
}

/// Where a request's guest runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// With the connections, on the gateway's own worker threads: every
    /// request an office or a person waits for.
    Interactive,
    /// On the background lane's threads when there is one
    /// ([`Runtime::start_background_lane`]): bulk loads and scheduled jobs,
    /// throughput work that yields the CPU to interactive requests.
    Background,
}

/// The background lane: a tokio runtime of its own whose worker threads
/// run at a lower scheduling priority (a higher `nice`). When both lanes
/// have work, the kernel gives the interactive threads the CPU first (at
/// nice 10 about 90 % of a contended core); when interactive work is idle,
/// the background lane gets it all, so a bulk load still runs at full speed
/// at night.
struct BackgroundLane {
    runtime: Option<tokio::runtime::Runtime>,
    /// Requests running on it now.
    running: Arc<std::sync::atomic::AtomicUsize>,
}

/// Counts one request on the background lane while it runs (dropped when
/// it ends, however it ends).
struct Running(Arc<std::sync::atomic::AtomicUsize>);

impl Running {
    fn start(count: &Arc<std::sync::atomic::AtomicUsize>) -> Running {
        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Running(count.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for BackgroundLane {
    fn drop(&mut self) {
        // A runtime may not be dropped inside another's async context.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Lowers the calling thread's scheduling priority to `nice` (Linux: per
/// thread). Best effort: where it fails the lane still runs, apart.
fn lower_thread_priority(nice: i32) {
    // SAFETY: gettid and setpriority have no memory effects; the id is
    // this thread's.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, nice) };
    if rc != 0 {
        tracing::warn!(
            "background lane: could not set nice {nice}: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Where compiled components are cached, if anywhere.
#[derive(Debug, Clone)]
pub enum Cache {
    /// Compile at every start.
    Off,
    /// Reuse compiled code in this directory.
    Dir(PathBuf),
}

/// The wasmtime configuration every carehub gateway uses.
pub fn engine(limits: &Limits) -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    // A trap's wasm backtrace is only for debugging; capturing one costs time
    // on every failing request and we never show it to clients.
    config.wasm_backtrace_max_frames(None);
    // For profiling only: `CAREHUB_PERF_MAP=1` has wasmtime write
    // /tmp/perf-<pid>.map, so `perf report` names the guests' functions
    // (the bench's `--perf` cells) instead of showing bare JIT addresses.
    if std::env::var_os("CAREHUB_PERF_MAP").is_some_and(|v| v == "1") {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    let mut pool = PoolingAllocationConfig::new();
    let n = limits.max_instances.max(1);
    pool.total_component_instances(n);
    // spin-sdk components hold a handful of core instances, memories and
    // tables (the program, the WASI adapter, shims); leave headroom.
    pool.total_core_instances(n.saturating_mul(16));
    pool.total_memories(n.saturating_mul(4));
    pool.total_tables(n.saturating_mul(8));
    pool.total_stacks(n);
    pool.max_core_instances_per_component(16);
    pool.max_memories_per_component(4);
    pool.max_tables_per_component(8);
    pool.max_memory_size(limits.max_instance_memory);
    // A slot's memory is reset for its next instance by zeroing the pages
    // the last one touched (found with the PAGEMAP_SCAN ioctl, Linux 6.7+)
    // instead of `madvise` + page faults on every request; each instance
    // still starts from the component's initial memory.
    pool.pagemap_scan(wasmtime::Enabled::Auto);
    pool.linear_memory_keep_resident(KEEP_RESIDENT);
    pool.table_keep_resident(KEEP_RESIDENT);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).doing(|| "configuring wasmtime".into())
}

fn linker(engine: &Engine) -> Result<Linker<State>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)
        .doing(|| "adding WASI to the linker".into())?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
        .doing(|| "adding wasi:http to the linker".into())?;
    crate::host::sqlite::add_to_linker(&mut linker, |s: &mut State| SqliteView {
        ctx: &s.sqlite,
        table: &mut s.table,
    })?;
    crate::host::pg::add_to_linker(&mut linker, |s: &mut State| crate::host::pg::PgView {
        outbound: &s.outbound,
        table: &mut s.table,
    })?;
    crate::host::variables::add_to_linker(&mut linker, |s: &mut State| VariablesView {
        values: &s.variables,
    })?;
    Ok(linker)
}

/// Compiles a component, or loads it from the cache when the same bytes were
/// compiled before by a compatible engine.
pub fn load_component(engine: &Engine, wasm: &Path, cache: &Cache) -> Result<Component> {
    let bytes = std::fs::read(wasm).doing(|| {
        format!(
            "reading component {} (build it first: `carehub up --build` or `carehub build`)",
            wasm.display()
        )
    })?;
    let Cache::Dir(dir) = cache else {
        return Component::from_binary(engine, &bytes)
            .doing(|| format!("compiling {}", wasm.display()));
    };
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let digest = {
        use sha2::Digest;
        hex::encode(&sha2::Sha256::digest(&bytes)[..16])
    };
    let path = dir.join(format!("{digest}-{:016x}.cwasm", hasher.finish()));
    if path.exists() {
        // SAFETY: the file was written by `Component::serialize` of an engine
        // with the same compatibility hash, into the gateway's own state
        // directory, and is named by the hash of the source it came from.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize_file(engine, &path) };
        match loaded {
            Ok(c) => return Ok(c),
            Err(e) => {
                tracing::warn!(path = %path.display(), "ignoring unusable compiled cache entry: {e:#}")
            }
        }
    }
    let component =
        Component::from_binary(engine, &bytes).doing(|| format!("compiling {}", wasm.display()))?;
    std::fs::create_dir_all(dir)
        .doing(|| format!("creating the compiled cache {}", dir.display()))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let compiled = component
        .serialize()
        .doing(|| format!("serializing the compiled {}", wasm.display()))?;
    std::fs::write(&tmp, compiled).doing(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).doing(|| format!("writing {}", path.display()))?;
    Ok(component)
}

impl Runtime {
    /// Loads, links and pre-instantiates every component of the manifest.
    pub fn load(
        manifest: &Manifest,
        app_variables: &crate::variables::Values,
        databases: Arc<Databases>,
        limits: Limits,
        cache: &Cache,
    ) -> Result<Runtime> {
        let engine = engine(&limits)?;
        let linker = linker(&engine)?;
        let mut components = Vec::new();
        for (id, spec) in &manifest.components {
            let component = load_component(&engine, &manifest.source_path(spec), cache)
                .map_err(Error::in_component(id))?;
            let instance_pre = linker.instantiate_pre(&component).doing(|| {
                format!("component {id} imports something this gateway does not provide")
            })?;
            let pre = ProxyPre::new(instance_pre)
                .doing(|| format!("component {id} is not a wasi:http incoming-handler"))?;
            let variables = crate::variables::resolve_component(&spec.variables, app_variables)
                .map_err(Error::in_component(id))?;
            for label in &spec.sqlite_databases {
                if databases.get(label).is_none() {
                    return Err(Error::DatabaseNotOpen {
                        component: id.clone(),
                        label: label.clone(),
                    });
                }
            }
            let outbound_entries = spec
                .allowed_outbound_hosts
                .iter()
                .map(|e| {
                    crate::variables::expand(e, app_variables)?.ok_or_else(|| {
                        Error::UnsetOutboundVariable {
                            component: id.clone(),
                            entry: e.clone(),
                        }
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            components.push(LoadedComponent {
                id: id.clone(),
                name: crate::metrics::Name(Arc::from(id.as_str())),
                pre,
                variables: Arc::new(variables),
                sqlite: SqliteCtx {
                    allowed: Arc::new(
                        spec.sqlite_databases
                            .iter()
                            .cloned()
                            .collect::<HashSet<_>>(),
                    ),
                    databases: databases.clone(),
                },
                outbound: OutboundPolicy::new(&outbound_entries)
                    .map_err(Error::in_component(id))?,
            });
        }
        let ticker_stop = Arc::new(AtomicBool::new(false));
        {
            let engine = engine.clone();
            let stop = ticker_stop.clone();
            std::thread::Builder::new()
                .name("carehub-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })
                .doing(|| "starting the epoch ticker thread".into())?;
        }
        Ok(Runtime {
            engine,
            components,
            limits,
            ticker_stop,
            metrics: None,
            background: None,
        })
    }

    /// Starts the background lane: [`Lane::Background`] requests run from
    /// now on on threads of their own at scheduling priority `nice`
    /// (1–19). Without it both lanes share the gateway's worker threads.
    ///
    /// Returns once every worker thread of the lane has lowered its own
    /// priority: tokio spawns them at once, but each runs its start hook
    /// only when the kernel first schedules it, which on a busy machine can
    /// be after the gateway has begun to serve.
    pub fn start_background_lane(&mut self, nice: i32) -> Result<()> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let started = Arc::new((std::sync::Mutex::new(0usize), std::sync::Condvar::new()));
        let counted = started.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("carehub-background")
            .on_thread_start(move || {
                lower_thread_priority(nice);
                let (count, changed) = &*counted;
                *count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                changed.notify_all();
            })
            .enable_all()
            .build()
            .doing(|| "starting the background lane's threads".into())?;
        let (count, changed) = &*started;
        let guard = count.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, waited) = changed
            .wait_timeout_while(guard, Duration::from_secs(30), |n| *n < threads)
            .unwrap_or_else(|e| e.into_inner());
        if waited.timed_out() {
            tracing::warn!(
                "background lane: {} of {threads} threads started within 30 s",
                *guard
            );
        }
        drop(guard);
        self.background = Some(BackgroundLane {
            runtime: Some(runtime),
            running: Arc::default(),
        });
        Ok(())
    }

    /// Waits until no request runs on the background lane any more (a
    /// scheduled job, a bulk load whose client went away), at most `wait`;
    /// `false` if one still ran then. For shutdown, once nothing starts new
    /// ones: the lane's requests may wait on tasks of the gateway's own
    /// runtime (a PostgreSQL connection's), which end with that runtime, so
    /// the lane must be idle before it stops.
    pub async fn background_lane_idle(&self, wait: Duration) -> bool {
        let Some(lane) = &self.background else {
            return true;
        };
        let deadline = tokio::time::Instant::now() + wait;
        while lane.running.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    /// The index of a component by id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.components.iter().position(|c| c.id == id)
    }

    /// Counts instance creation in `metrics` from now on.
    pub fn set_metrics(&mut self, metrics: Arc<crate::metrics::Metrics>) {
        self.metrics = Some(metrics);
    }

    /// The metrics, when counted.
    pub fn metrics(&self) -> Option<&crate::metrics::Metrics> {
        self.metrics.as_deref()
    }

    /// The id of component `index` as a log and metric label.
    pub fn name(&self, index: usize) -> &crate::metrics::Name {
        &self.components[index].name
    }

    /// The component ids, in index order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.components.iter().map(|c| c.id.as_str())
    }

    /// Serves one request with a fresh instance of component `index` in
    /// the interactive lane. Fails with [`Error::Deadline`],
    /// [`Error::Exhausted`] or [`Error::ComponentFailed`].
    pub async fn handle<B>(
        &self,
        index: usize,
        req: hyper::Request<B>,
    ) -> Result<hyper::Response<HyperOutgoingBody>>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        self.handle_in(Lane::Interactive, index, req).await
    }

    /// [`Runtime::handle`] with the guest run in `lane`.
    pub async fn handle_in<B>(
        &self,
        lane: Lane,
        index: usize,
        req: hyper::Request<B>,
    ) -> Result<hyper::Response<HyperOutgoingBody>>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let component = &self.components[index];
        let mut wasi = WasiCtx::builder();
        wasi.inherit_stderr();
        let mut store = Store::new(
            &self.engine,
            State {
                wasi: wasi.build(),
                http: WasiHttpCtx::new(),
                table: ResourceTable::new(),
                outbound: component.outbound.clone(),
                sqlite: SqliteCtx {
                    allowed: component.sqlite.allowed.clone(),
                    databases: component.sqlite.databases.clone(),
                },
                variables: component.variables.clone(),
                limits: StoreLimitsBuilder::new()
                    .memory_size(self.limits.max_instance_memory)
                    .instances(64)
                    .trap_on_grow_failure(false)
                    .build(),
            },
        );
        store.limiter(|s| &mut s.limits);
        // Each epoch tick, a guest still running yields to the executor, so
        // a computing guest never holds a worker thread for more than a tick
        // and starves other requests; past the deadline it is stopped. This
        // holds inside a database transaction too: a writer waiting for the
        // lock such a guest holds waits on the executor (see
        // `host::sqlite`), not on the thread the holder needs to resume.
        let deadline = std::time::Instant::now() + self.limits.deadline;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if std::time::Instant::now() >= deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });

        let (sender, receiver) = tokio::sync::oneshot::channel();
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Https, req)
            .map_err(failed)?;
        let out = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(failed)?;
        let pre = component.pre.clone();
        let observe = self.metrics.clone().map(|m| (m, component.name.clone()));
        let run = async move {
            let started = std::time::Instant::now();
            let proxy = pre.instantiate_async(&mut store).await?;
            if let Some((metrics, name)) = observe {
                metrics.observe_instance_creation(&name, started.elapsed().as_secs_f64());
            }
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, out)
                .await
        };
        let task = match (lane, self.background.as_ref()) {
            (
                Lane::Background,
                Some(BackgroundLane {
                    runtime: Some(rt),
                    running,
                }),
            ) => {
                let running = Running::start(running);
                rt.spawn(async move {
                    let _running = running;
                    run.await
                })
            }
            _ => tokio::task::spawn(run),
        };

        // The epoch stops a guest that computes; this also stops one that
        // waits on the host forever (an outbound call, a locked database).
        let grace = self.limits.deadline + Duration::from_secs(1);
        match tokio::time::timeout(grace, receiver).await {
            Ok(Ok(Ok(resp))) => Ok(resp),
            Ok(Ok(Err(code))) => Err(Error::ComponentFailed(
                format!("component answered an error: {code:?}").into(),
            )),
            Ok(Err(_)) => Err(match task.await {
                Ok(Ok(())) => Error::ComponentFailed("the component never set a response".into()),
                Ok(Err(e)) => classify(e),
                Err(e) => Error::ComponentFailed(Box::new(e)),
            }),
            Err(_) => {
                task.abort();
                Err(Error::Deadline)
            }
        }
    }
}

/// Why a component's run ended without a response.
fn classify(e: wasmtime::Error) -> Error {
    if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return Error::Deadline;
    }
    let text = format!("{e:#}");
    if text.contains("maximum concurrent")
        || text.contains("pooling allocator") && text.contains("limit")
    {
        return Error::Exhausted;
    }
    failed(e)
}

/// A wasmtime error while serving a request: the component failed.
fn failed(e: wasmtime::Error) -> Error {
    Error::ComponentFailed(e.into_boxed_dyn_error())
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// A response body built by the gateway itself (problems, health, OpenAPI).
pub fn full_body(bytes: impl Into<Bytes>) -> HyperOutgoingBody {
    use http_body_util::BodyExt;
    UnsyncBoxBody::new(http_body_util::Full::new(bytes.into()).map_err(|never| match never {}))
}
