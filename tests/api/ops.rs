//! Running it in production (issue 13, part A), through the real gateway:
//! the request log and request id, the Prometheus metrics, the connection
//! limits (header timeout, connection caps), the per-principal rate limit,
//! and the readable 413. Every socket here has connect, read and write
//! timeouts and every loop a deadline, so no test can hang.

use crate::helpers::{Options, TestApp, problem, workspace};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Timeout of every client socket and request here.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// A gateway with the request log on (JSON) and `extra` flags.
fn spawn_logged(extra: &[&str]) -> TestApp {
    let mut a = args(&["--log-format", "json"]);
    a.extend(args(extra));
    TestApp::spawn_with(Options {
        args: a,
        env: vec![(
            "CAREHUB_LOG".to_owned(),
            "warn,carehub::request=info".to_owned(),
        )],
        ..Options::default()
    })
}

/// An mTLS client for `role` with short timeouts; HTTP/1.1 only when asked.
fn client(app: &TestApp, role: &str, http1_only: bool) -> reqwest::blocking::Client {
    let mut pem = std::fs::read(app.pki.client_cert(role)).unwrap();
    pem.extend(std::fs::read(app.pki.client_key(role)).unwrap());
    let ca = reqwest::Certificate::from_pem(&std::fs::read(app.pki.ca_cert()).unwrap()).unwrap();
    let mut b = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .identity(reqwest::Identity::from_pem(&pem).unwrap())
        .connect_timeout(IO_TIMEOUT)
        .timeout(IO_TIMEOUT);
    if http1_only {
        b = b.http1_only();
    }
    b.build().unwrap()
}

/// The request-log lines (JSON objects) printed so far.
fn request_lines(app: &TestApp) -> Vec<serde_json::Value> {
    app.output_lines()
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "carehub::request")
        .collect()
}

/// Waits (at most 5 s) until `n` request-log lines carry one of `ids`.
fn lines_for(app: &TestApp, ids: &[String], n: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let lines: Vec<_> = request_lines(app)
            .into_iter()
            .filter(|l| ids.iter().any(|id| l["request_id"] == id.as_str()))
            .collect();
        if lines.len() >= n || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn request_id(resp: &reqwest::blocking::Response) -> String {
    resp.headers()
        .get("x-request-id")
        .expect("every answer carries x-request-id")
        .to_str()
        .unwrap()
        .to_owned()
}

#[test]
fn each_request_gives_one_log_line_with_the_id_returned_and_passed_on() {
    let app = spawn_logged(&["--trust-request-id", "operator"]);
    let muni = client(&app, "municipality", false);

    // The component sees the id the client gets back.
    let resp = muni.get(app.url("/probe/headers")).send().unwrap();
    assert_eq!(resp.status(), 200);
    let probe_id = request_id(&resp);
    let seen: Vec<(String, String)> = resp.json().unwrap();
    assert_eq!(
        crate::helpers::header_values(&seen, "x-request-id"),
        vec![probe_id.as_str()]
    );

    // An untrusted caller's id is replaced; a trusted one's is kept.
    let resp = muni
        .get(app.url("/api/read/persons/131016/0000012345/documents"))
        .header("x-request-id", "forged-by-the-caller")
        .send()
        .unwrap();
    let read_id = request_id(&resp);
    assert_ne!(read_id, "forged-by-the-caller");
    assert_eq!(read_id.len(), 36, "a generated UUID: {read_id}");
    let read_status = resp.status().as_u16();

    let operator = app.client_for_urn("urn:carehub:operator:ops-desk");
    let resp = operator
        .get(app.url("/probe/fixed"))
        .header("x-request-id", "support-call-4711")
        .send()
        .unwrap();
    assert_eq!(request_id(&resp), "support-call-4711");

    // A refusal names its problem type; the person token never appears.
    let portal = client(&app, "portal", false);
    let token = app.person_token("131016", "0000012345", "person");
    let resp = portal
        .get(app.url("/api/read/persons/131016/0000099999/documents"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    let portal_id = request_id(&resp);
    let portal_status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().unwrap();
    assert!(portal_status >= 400, "{portal_status} {body}");

    let anonymous = app.anonymous();
    let resp = anonymous.get(app.url("/probe/fixed")).send().unwrap();
    let anonymous_id = request_id(&resp);
    problem(resp, 401, "client-certificate-required");

    let ids = vec![
        probe_id.clone(),
        read_id.clone(),
        "support-call-4711".to_owned(),
        portal_id.clone(),
        anonymous_id.clone(),
    ];
    let lines = lines_for(&app, &ids, ids.len());
    for id in &ids {
        let of_id: Vec<_> = lines
            .iter()
            .filter(|l| l["request_id"] == id.as_str())
            .collect();
        assert_eq!(of_id.len(), 1, "one line for {id}: {lines:#?}");
    }
    let line = |id: &str| {
        lines
            .iter()
            .find(|l| l["request_id"] == id)
            .unwrap()
            .clone()
    };
    let probe = line(&probe_id);
    assert_eq!(probe["principal"], "urn:carehub:municipality:131016");
    assert_eq!(probe["method"], "GET");
    assert_eq!(probe["route"], "/probe/...");
    assert_eq!(probe["component"], "probe");
    assert_eq!(probe["status"], 200);
    assert!(probe["problem"].is_null(), "{probe}");
    assert!(probe["duration_ms"].as_f64().unwrap() > 0.0, "{probe}");
    assert!(probe["bytes"].as_u64().unwrap() > 0, "{probe}");

    let read = line(&read_id);
    assert_eq!(read["component"], "read");
    assert_eq!(read["route"], "/api/read/...");
    assert_eq!(read["status"], read_status);

    let portal = line(&portal_id);
    assert_eq!(portal["principal"], "urn:carehub:portal:mynaportal-dev");
    assert_eq!(portal["status"], portal_status);
    let slug = body["type"]
        .as_str()
        .unwrap()
        .trim_start_matches("urn:carehub:problem:");
    assert_eq!(portal["problem"], slug, "{portal}");

    let anonymous = line(&anonymous_id);
    assert!(anonymous["principal"].is_null(), "{anonymous}");
    assert_eq!(anonymous["component"], "gateway");
    assert_eq!(anonymous["status"], 401);
    assert_eq!(anonymous["problem"], "client-certificate-required");

    let all = app.output_lines().join("\n");
    assert!(
        !all.contains(&token),
        "the person token must never be logged"
    );

    // The same id is in the access-log entry of that read, as the person's
    // municipality (and the person) see it: one id links the operator's log,
    // the access log and a support call. The caller's forged id is nowhere.
    let listed: serde_json::Value = muni
        .get(app.url("/api/read/persons/131016/0000012345/accesses"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let accesses = listed["accesses"].as_array().unwrap();
    let of_read: Vec<_> = accesses
        .iter()
        .filter(|a| a["request_id"] == read_id.as_str())
        .collect();
    assert_eq!(of_read.len(), 1, "{listed:#}");
    assert_eq!(of_read[0]["action"], "list_documents");
    assert!(
        !listed.to_string().contains("forged-by-the-caller"),
        "{listed:#}"
    );
}

/// The gateway's metrics URL, from its start banner.
fn metrics_url(app: &TestApp) -> String {
    app.stdout
        .iter()
        .find_map(|l| l.strip_prefix("carehub: metrics at "))
        .expect("the banner names the metrics address")
        .trim()
        .to_owned()
}

/// A scrape parsed by the Python `prometheus_client` OpenMetrics parser:
/// (sample name, labels, value).
fn scrape(url: &str) -> Vec<(String, serde_json::Map<String, serde_json::Value>, f64)> {
    let resp = reqwest::blocking::Client::builder()
        .timeout(IO_TIMEOUT)
        .build()
        .unwrap()
        .get(url)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    let text = resp.text().unwrap();
    let python = workspace().join("target/webhooks-venv/bin/python");
    assert!(
        python.exists(),
        "no Python venv with prometheus_client: run infra/test.sh, or \
         `python3 -m venv target/webhooks-venv && target/webhooks-venv/bin/python -m pip install prometheus_client`"
    );
    let script = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        out.append([s.name, s.labels, s.value])
print(json.dumps(out))
"#;
    let mut child = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused the scrape: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Vec<(String, serde_json::Map<String, serde_json::Value>, f64)> =
        serde_json::from_slice(&out.stdout).unwrap();
    parsed
}

/// The value of sample `name` whose labels include `labels` (0 if absent).
fn sample(
    samples: &[(String, serde_json::Map<String, serde_json::Value>, f64)],
    name: &str,
    labels: &[(&str, &str)],
) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).and_then(|x| x.as_str()) == Some(*v))
        })
        .map(|(_, _, v)| *v)
        .sum()
}

#[test]
fn metrics_parse_as_openmetrics_and_move_with_traffic() {
    let app = TestApp::spawn_with(Options {
        args: args(&["--metrics-listen", "127.0.0.1:0", "--log-format", "off"]),
        ..Options::default()
    });
    let url = metrics_url(&app);
    let before = scrape(&url);
    let probe_2xx = [("component", "probe"), ("class", "2xx")];

    let muni = client(&app, "municipality", false);
    for _ in 0..3 {
        assert_eq!(
            muni.get(app.url("/probe/fixed")).send().unwrap().status(),
            200
        );
    }
    // A read is written to the access log.
    let resp = muni
        .get(app.url("/api/read/persons/131016/0000012345/documents"))
        .send()
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    // A refusal by the gateway itself.
    problem(
        app.anonymous().get(app.url("/probe/fixed")).send().unwrap(),
        401,
        "client-certificate-required",
    );
    // A certificate from a CA the hub does not know fails the handshake.
    let stranger = carehub::devpki::Authority::generate("not the hub").unwrap();
    let (cert, key) = stranger.client("urn:carehub:municipality:131016").unwrap();
    let bad = crate::helpers::client_with(
        &app.pki.ca_cert(),
        Some(reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap()),
        None,
    );
    assert!(bad.get(app.url("/probe/fixed")).send().is_err());

    let after = scrape(&url);
    let moved = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    assert_eq!(moved("carehub_requests_total", &probe_2xx), 3.0);
    assert_eq!(
        moved("carehub_request_duration_seconds_count", &probe_2xx),
        3.0
    );
    assert!(moved("carehub_request_duration_seconds_sum", &probe_2xx) > 0.0);
    assert_eq!(
        moved(
            "carehub_requests_total",
            &[("component", "read"), ("class", "2xx")]
        ),
        1.0
    );
    assert_eq!(
        moved(
            "carehub_requests_total",
            &[("component", "gateway"), ("class", "4xx")]
        ),
        1.0
    );
    assert!(
        moved(
            "carehub_instance_creation_seconds_count",
            &[("component", "probe")]
        ) >= 3.0
    );
    assert!(moved("carehub_access_log_appends_total", &[]) >= 1.0);
    assert!(
        moved("carehub_tls_handshake_failures_total", &[]) >= 1.0,
        "{after:?}"
    );
    assert_eq!(sample(&after, "carehub_store_up", &[]), 1.0);
    assert_eq!(sample(&after, "carehub_webhook_outbox_pending", &[]), 0.0);
    for name in [
        "carehub_requests_in_flight",
        "carehub_requests_queued",
        "carehub_connections_open",
        "carehub_webhook_outbox_oldest_pending_age_seconds",
    ] {
        assert!(
            after.iter().any(|(n, _, _)| n == name),
            "{name} missing from the scrape"
        );
    }
    // Nothing else on the metrics listener.
    let other = reqwest::blocking::Client::builder()
        .timeout(IO_TIMEOUT)
        .build()
        .unwrap()
        .get(url.replace("/metrics", "/api/read/persons/131016/0000012345/documents"))
        .send()
        .unwrap();
    assert_eq!(other.status(), 404);
}

/// A raw TLS connection to the gateway from `from` (port chosen by the
/// system), as `role`, speaking HTTP/1.1; every socket operation bounded.
fn raw_tls(
    app: &TestApp,
    role: &str,
    from: IpAddr,
) -> std::io::Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let tcp = connect_from(from, SocketAddr::from(([127, 0, 0, 1], app.port)))?;
    tcp.set_read_timeout(Some(IO_TIMEOUT))?;
    tcp.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut &std::fs::read(app.pki.ca_cert()).unwrap()[..]) {
        roots.add(cert.unwrap()).unwrap();
    }
    let certs: Vec<_> =
        rustls_pemfile::certs(&mut &std::fs::read(app.pki.client_cert(role)).unwrap()[..])
            .map(Result::unwrap)
            .collect();
    let key =
        rustls_pemfile::private_key(&mut &std::fs::read(app.pki.client_key(role)).unwrap()[..])
            .unwrap()
            .unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(certs, key)
    .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let conn = rustls::ClientConnection::new(
        Arc::new(config),
        rustls::pki_types::ServerName::try_from("localhost").unwrap(),
    )
    .map_err(std::io::Error::other)?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(stream)
}

/// A TCP connection to `to` from address `from` (any loopback address
/// works as a source on Linux), with a connect timeout.
fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(from, 0))?;
        let stream = tokio::time::timeout(IO_TIMEOUT, socket.connect(to))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        let stream = stream.into_std()?;
        stream.set_nonblocking(false)?;
        Ok(stream)
    })
}

/// Sends a GET of `/healthz` on `stream` and reads the status line.
fn get_health(
    stream: &mut rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
) -> std::io::Result<String> {
    stream.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n")?;
    stream.flush()?;
    let mut buf = [0u8; 512];
    let n = stream.read(&mut buf)?;
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    Ok(text.lines().next().unwrap_or("").to_owned())
}

/// Whether the server has closed `stream`: a read gives EOF or an error
/// (not a timeout) within `within`.
fn closed_within(
    stream: &mut rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    within: Duration,
) -> bool {
    stream.sock.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn a_client_sending_its_head_one_byte_a_second_is_cut_off_while_others_are_served() {
    let app = TestApp::spawn_with(Options {
        args: args(&["--header-read-timeout-ms", "2000"]),
        ..Options::default()
    });
    let localhost: IpAddr = "127.0.0.1".parse().unwrap();
    let mut slow = raw_tls(&app, "municipality", localhost).unwrap();
    let head =
        b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nx-padding: aaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let started = Instant::now();
    let other = client(&app, "care-manager", true);
    let mut served_meanwhile = 0;
    let mut cut_after = None;
    for byte in head {
        if slow
            .write_all(&[*byte])
            .and_then(|()| slow.flush())
            .is_err()
        {
            cut_after = Some(started.elapsed());
            break;
        }
        // Others are answered at once while the slow client dawdles.
        let asked = Instant::now();
        let resp = other.get(app.url("/healthz")).send().unwrap();
        assert_eq!(resp.status(), 200);
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "{:?}",
            asked.elapsed()
        );
        served_meanwhile += 1;
        if closed_within(&mut slow, Duration::from_secs(1)) {
            cut_after = Some(started.elapsed());
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "never cut off");
    }
    let cut_after = cut_after.expect("the slow client was cut off before its head was complete");
    assert!(
        cut_after >= Duration::from_millis(1500) && cut_after < Duration::from_secs(6),
        "cut after {cut_after:?}"
    );
    assert!(served_meanwhile >= 1);

    // A client that completes its handshake and then says nothing is cut
    // off too.
    let mut silent = raw_tls(&app, "municipality", localhost).unwrap();
    let quiet = Instant::now();
    assert!(closed_within(&mut silent, Duration::from_secs(6)));
    assert!(
        quiet.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        quiet.elapsed()
    );
}

#[test]
fn with_the_connection_cap_reached_new_connections_are_refused_and_open_ones_answered() {
    let app = TestApp::spawn_with(Options {
        args: args(&["--max-connections", "3", "--max-connections-per-ip", "2"]),
        ..Options::default()
    });
    let one: IpAddr = "127.0.0.1".parse().unwrap();
    let two: IpAddr = "127.0.0.2".parse().unwrap();
    let mut first = raw_tls(&app, "municipality", one).unwrap();
    let mut second = raw_tls(&app, "care-manager", one).unwrap();
    // A third from the same address: closed at once, before TLS.
    assert!(
        raw_tls(&app, "municipality", one).is_err(),
        "per-address cap"
    );
    // Another address still gets in, up to the total.
    let mut third = raw_tls(&app, "medical", two).unwrap();
    assert!(raw_tls(&app, "medical", two).is_err(), "total cap");
    // Those already open are answered.
    assert_eq!(get_health(&mut first).unwrap(), "HTTP/1.1 200 OK");
    assert_eq!(get_health(&mut second).unwrap(), "HTTP/1.1 200 OK");
    assert_eq!(get_health(&mut third).unwrap(), "HTTP/1.1 200 OK");
    // A place freed is a place taken.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut again = loop {
        match raw_tls(&app, "municipality", one) {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("no place after a connection closed: {e}"),
        }
    };
    assert_eq!(get_health(&mut again).unwrap(), "HTTP/1.1 200 OK");
}

#[test]
fn a_principal_over_its_rate_gets_429_with_retry_after_while_another_is_unaffected() {
    let app = TestApp::spawn_with(Options {
        args: args(&["--rate-limit", "municipality=1/3", "--rate-limit", "*=off"]),
        ..Options::default()
    });
    let busy = client(&app, "municipality", false);
    for i in 0..3 {
        let resp = busy.get(app.url("/probe/fixed")).send().unwrap();
        assert_eq!(resp.status(), 200, "request {i} within the burst");
    }
    let resp = busy.get(app.url("/probe/fixed")).send().unwrap();
    let retry_after: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    problem(resp, 429, "rate-limited");

    // Another municipality has a full bucket of its own; another role
    // (exempt here) is not limited at all.
    let other = app.client_for_urn("urn:carehub:municipality:131024");
    let office = client(&app, "care-manager", false);
    for _ in 0..3 {
        assert_eq!(
            other.get(app.url("/probe/fixed")).send().unwrap().status(),
            200
        );
    }
    for _ in 0..10 {
        assert_eq!(
            office.get(app.url("/probe/fixed")).send().unwrap().status(),
            200
        );
    }
    // After Retry-After, the busy one is served again.
    std::thread::sleep(Duration::from_secs(retry_after));
    assert_eq!(
        busy.get(app.url("/probe/fixed")).send().unwrap().status(),
        200
    );
}

#[test]
fn an_over_limit_declared_body_gets_a_readable_413() {
    let app = TestApp::spawn_with(Options {
        args: args(&["--max-body-bytes", "1024"]),
        ..Options::default()
    });
    let h1 = client(&app, "municipality", true);
    // Far more than the socket buffers hold: the client is still sending
    // when the gateway answers.
    let body = vec![b'x'; 8 * 1024 * 1024];
    for _ in 0..3 {
        let resp = h1
            .post(app.url("/api/ingest/documents"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .expect("the 413 is readable, not a reset connection");
        let body = problem(resp, 413, "payload-too-large");
        assert!(body["detail"].as_str().unwrap().contains("1024"), "{body}");
    }
    // Over HTTP/2 too.
    let h2 = client(&app, "municipality", false);
    let resp = h2
        .post(app.url("/api/ingest/documents"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .unwrap();
    problem(resp, 413, "payload-too-large");
}
