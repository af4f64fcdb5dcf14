//! Issue 12's PostgreSQL cells: the read cells through one gateway process
//! on PostgreSQL, then through two gateway processes sharing the database
//! (the connections alternate between them). The database is
//! `CAREHUB_BENCH_DATABASE_URL` when set (its server is not pinned and its
//! CPU is not counted), otherwise a throwaway TLS-only server started as
//! `infra/test.sh` starts one (`initdb`, `pg_ctl`, as the `postgres` user
//! when run as root, `hostssl` only, the gateway connecting with
//! `sslmode=verify-full`), pinned to the server core with the gateways, its
//! processes' CPU counted as the server's, removed afterwards.

use crate::data::{self, Rng};
use crate::measure::{self, Cell};
use crate::scenario::{Persons, Requests};
use crate::setup::{Bench, Fixture, Up, gateway_launch, note, target_for};
use crate::{Config, client, procs, sys};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// The variable naming a PostgreSQL server to use instead of a throwaway one.
pub const URL_ENV: &str = "CAREHUB_BENCH_DATABASE_URL";

/// The database the PostgreSQL cells use.
struct Postgres {
    url: String,
    host: String,
    /// The postmaster, when this run started the server.
    postmaster: Option<u32>,
    /// The throwaway server's directory and binaries.
    owned: Option<(PathBuf, PathBuf)>,
    version: String,
}

fn as_pg(bin: &Path, program: &str) -> Command {
    let program = bin.join(program);
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        .unwrap_or(false)
}

fn run(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The directory holding `initdb`: on the PATH, else the usual places.
fn pg_bin() -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut candidates: Vec<PathBuf> = std::env::split_paths(&path).collect();
    candidates.push("/usr/local/bin".into());
    if let Ok(rd) = std::fs::read_dir("/usr/lib/postgresql") {
        candidates.extend(rd.filter_map(|e| Some(e.ok()?.path().join("bin"))));
    }
    candidates
        .into_iter()
        .find(|d| d.join("initdb").exists() && d.join("pg_ctl").exists())
        .context("no initdb/pg_ctl found (or set CAREHUB_BENCH_DATABASE_URL)")
}

/// `host:port` of a `postgres://[user[:password]@]host:port/db?…` URL.
fn host_of(url: &str) -> String {
    let authority = url
        .trim_start_matches("postgres://")
        .split(['/', '?'])
        .next()
        .unwrap_or_default();
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
        .to_owned()
}

impl Postgres {
    fn start(cfg: &Config, run_id: u64) -> Result<Postgres> {
        if let Some(url) = std::env::var(URL_ENV).ok().filter(|u| !u.is_empty()) {
            let host = host_of(&url);
            return Ok(Postgres {
                url,
                host,
                postmaster: None,
                owned: None,
                version: format!("{URL_ENV} (not pinned, its CPU not counted)"),
            });
        }
        let bin = pg_bin()?;
        let dir = std::env::temp_dir().join(format!("carehub-bench-pg-{run_id}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let pg = Postgres {
            url: String::new(),
            host: String::new(),
            postmaster: None,
            owned: Some((dir.clone(), bin.clone())),
            version: String::new(),
        };
        // From here on, dropping `pg` removes the directory.
        pg.initialise(cfg, &dir, &bin)
    }

    fn initialise(mut self, cfg: &Config, dir: &Path, bin: &Path) -> Result<Postgres> {
        let root = is_root();
        if root {
            run(
                Command::new("chown").arg("postgres").arg(dir),
                "chown postgres",
            )?;
        }
        let data = dir.join("data");
        run(
            as_pg(bin, "initdb").arg("-D").arg(&data).args([
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ]),
            "initdb",
        )?;
        let tls = dir.join("tls");
        run(
            Command::new(&cfg.gateway)
                .args([
                    "dev",
                    "server-cert",
                    "postgres",
                    "--dns",
                    "127.0.0.1",
                    "--dns",
                    "localhost",
                    "--dir",
                ])
                .arg(&tls),
            "carehub dev server-cert",
        )?;
        let hba = dir.join("pg_hba.conf");
        std::fs::write(
            &hba,
            "local     all  all                trust\nhostssl   all  all  127.0.0.1/32  trust\nhostnossl all  all  0.0.0.0/0     reject\n",
        )?;
        if root {
            run(
                Command::new("chown").arg("-R").arg("postgres").arg(dir),
                "chown -R postgres",
            )?;
            run(
                Command::new("chmod").arg("644").arg(tls.join("ca.pem")),
                "chmod",
            )?;
        }
        let port = sys::free_port()?;
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300 -c ssl=on -c ssl_cert_file={} -c ssl_key_file={} -c hba_file={}",
            dir.display(),
            tls.join("postgres.pem").display(),
            tls.join("postgres.key").display(),
            hba.display()
        );
        // pg_ctl under taskset: the postmaster and every backend it forks
        // inherit the server core.
        let mut start = match cfg.server_core {
            Some(core) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(core.to_string());
                if root {
                    c.args(["runuser", "-u", "postgres", "--"]);
                }
                c.arg(bin.join("pg_ctl"));
                c
            }
            None => as_pg(bin, "pg_ctl"),
        };
        start
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("server.log"))
            .args(["-w", "-o", &options, "start"]);
        run(&mut start, "pg_ctl start")?;
        let pid = std::fs::read_to_string(data.join("postmaster.pid"))?
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .context("postmaster.pid")?;
        self.postmaster = Some(pid);
        self.version = run(
            Command::new(bin.join("postgres")).arg("--version"),
            "postgres --version",
        )
        .unwrap_or_default()
        .trim()
        .to_owned();
        self.url = format!(
            "postgres://postgres@127.0.0.1:{port}/postgres?sslmode=verify-full&sslrootcert={}",
            tls.join("ca.pem").display()
        );
        self.host = format!("127.0.0.1:{port}");
        Ok(self)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some((dir, bin)) = self.owned.take() {
            let _ = as_pg(&bin, "pg_ctl")
                .arg("-D")
                .arg(dir.join("data"))
                .args(["-m", "immediate", "stop"])
                .output();
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// Starts a gateway on the database (the webhook dispatcher off, so that
/// its runs do not fall into the cells).
fn gateway(bench: &mut Bench<'_>, pg: &Postgres, n: usize) -> Result<Up> {
    let cfg = bench.cfg;
    // gateway_launch turns the in-process jobs off (the dispatcher too).
    let mut launch = gateway_launch(cfg, &bench.bench_manifest, "127.0.0.1:0", &[]);
    launch.env.extend([
        ("SPIN_VARIABLE_STORE_BACKEND".into(), "postgres".into()),
        ("SPIN_VARIABLE_DATABASE_URL".into(), pg.url.clone()),
        ("SPIN_VARIABLE_DATABASE_HOST".into(), pg.host.clone()),
    ]);
    let log = bench.logs.join(format!("gateway-pg-{n}.log"));
    let server = procs::start(&launch, &log)?;
    bench.out.notes.push(note(
        &format!("gateway {n} on PostgreSQL ({})", pg.version),
        &server,
    ));
    let mut targets = BTreeMap::new();
    for role in ["municipality", "care-manager", "care-service"] {
        targets.insert(role, target_for(cfg, server.addr, role)?);
    }
    Ok(Up { server, targets })
}

/// Runs the PostgreSQL cells.
pub async fn run_cells(bench: &mut Bench<'_>, fx: &Fixture) -> Result<()> {
    let cfg = bench.cfg;
    eprintln!("carehub-bench: PostgreSQL cells");
    let pg = Postgres::start(cfg, bench.run_id)?;
    eprintln!("  database: {} ({})", pg.host, pg.version);
    let first = gateway(bench, &pg, 1)?;
    let second = gateway(bench, &pg, 2)?;
    let dataset = data::load(
        &first.targets,
        cfg.pg_persons,
        cfg.pg_documents,
        cfg.batch_lines,
        cfg.load_in_flight,
        Path::new("/nonexistent"),
    )
    .await?;
    let reader = first.target(Some("municipality"))?;
    let fx = sampled(fx, &reader, cfg.pg_persons).await?;
    let parents: Vec<u32> = pg.postmaster.into_iter().collect();
    let ups = [&first, &second];
    let reads = [
        ("pg_get", "read get (one document)", Requests::Get),
        (
            "pg_list",
            "read list (person's documents)",
            Requests::List {
                persons: Persons::Sampled,
                kind: None,
                token: false,
            },
        ),
    ];
    for (key, name, send) in reads {
        for gateways in [1usize, 2] {
            let targets: Vec<_> = ups[..gateways]
                .iter()
                .map(|u| u.target(Some("municipality")))
                .collect::<Result<_>>()?;
            let key = if gateways == 1 {
                key.to_owned()
            } else {
                format!("{key}_2gw")
            };
            let server = if gateways == 1 {
                "1 gateway + PostgreSQL".to_owned()
            } else {
                "2 gateways + PostgreSQL".to_owned()
            };
            let make = if gateways == 1 {
                send.over_http(&fx, &targets[0])
            } else {
                alternate(send, &fx, &targets)
            };
            let cell = Cell {
                key: &key,
                name,
                server: &server,
                identity: "municipality",
                make,
                targets,
                expect: 200,
                count: None,
                pids: ups[..gateways].iter().map(|u| u.server.pid).collect(),
                parents: parents.clone(),
            };
            for &n in &cfg.connections {
                measure::load_cell(bench, &cell, n).await?;
            }
        }
    }
    first.stop();
    second.stop();
    bench.out.remarks.push(format!(
        "PostgreSQL ({}): dataset {} persons, {} documents loaded through bulk ingest at {:.0} documents/s; server CPU = the gateway process(es){}; gateways and database share the server core (core {}), the load generator the other: with 2 cores a second gateway process cannot add capacity, so the 2-gateway rows show whether two processes on one database serialise or fail (they would show errors, lower req/CPU-s or a higher p99), not scale-out",
        pg.version,
        dataset.persons,
        dataset.documents,
        dataset.load_rate,
        if pg.postmaster.is_some() {
            " + every PostgreSQL process"
        } else {
            " only (the external server's CPU is not seen)"
        },
        cfg.server_core.map_or("any".into(), |c| c.to_string()),
    ));
    drop(pg);
    Ok(())
}

/// The requests of `send`, connection `c` built for `targets[c % len]`
/// (each gateway's own `host` header).
fn alternate(send: Requests, fx: &Fixture, targets: &[client::Target]) -> client::MakeRequest {
    let makes: Vec<client::MakeRequest> = targets.iter().map(|t| send.over_http(fx, t)).collect();
    Arc::new(move |c, i| makes[c % makes.len()](c, i))
}

/// The run's fixture with persons and document ids sampled from the
/// PostgreSQL dataset through the API (the municipality's lists).
async fn sampled(fx: &Fixture, reader: &client::Target, persons: u64) -> Result<Fixture> {
    let mut rng = Rng::new(7);
    let insured: Vec<String> = (0..4096)
        .map(|_| data::insured(rng.below(persons)))
        .collect();
    let mut ids = Vec::new();
    let mut sender = client::connect(reader).await?;
    for n in insured.iter().take(256) {
        let req = client::get(reader, &format!("/api/read/persons/131016/{n}/documents"))
            .body(client::empty())?;
        let resp = client::send(&mut sender, req).await?;
        if resp.status() != 200 {
            bail!("listing {n} answered {}", resp.status());
        }
        let v: serde_json::Value = serde_json::from_slice(resp.body())?;
        for d in v["documents"].as_array().into_iter().flatten() {
            if d["author"] == "urn:carehub:municipality:131016"
                && let Some(id) = d["document_id"].as_str()
            {
                ids.push(id.to_owned());
            }
        }
    }
    if ids.is_empty() {
        bail!("no municipality document in the PostgreSQL dataset");
    }
    Ok(Fixture {
        run_id: fx.run_id,
        templates: fx.templates.clone(),
        insured: Arc::new(insured),
        ids: Arc::new(ids),
        tokens: fx.tokens.clone(),
        token_persons: fx.token_persons.clone(),
        templates_other: fx.templates_other.clone(),
        csv: fx.csv.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn the_host_of_a_database_url() {
        assert_eq!(
            host_of(
                "postgres://postgres@127.0.0.1:5432/postgres?sslmode=verify-full&sslrootcert=/a/ca.pem"
            ),
            "127.0.0.1:5432"
        );
        assert_eq!(
            host_of("postgres://u:p@db.internal:6432/hub"),
            "db.internal:6432"
        );
        assert_eq!(host_of("postgres://db.internal:5432"), "db.internal:5432");
        assert_eq!(
            host_of("postgres://u@h:1/db?sslrootcert=/x@y/ca.pem"),
            "h:1"
        );
    }
}
