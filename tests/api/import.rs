//! `carehub import`, the real binary, against the real gateway over mTLS:
//! 100,000 NDJSON lines with five bad ones, interrupted at about half way
//! (SIGINT) and resumed, store every good line exactly once and report the
//! bad ones; standard CSV files and JSON files go through it too.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use carehub_domain::DocumentKind;
use serde_json::{Value, json};

use crate::care::{INSURER, content};
use crate::helpers::{TestApp, workspace};

const LINES: usize = 100_000;
const BATCH: usize = 5_000;

/// The five bad lines (1-based) and the problem each must get.
const BAD: [(usize, u16, &str); 5] = [
    (7, 400, "malformed-json"),
    (20_000, 400, "invalid-request"),
    (50_001, 403, "wrong-municipality"),
    (77_777, 400, "invalid-request"),
    (99_999, 400, "invalid-identifier"),
];

fn insured(line: usize) -> String {
    format!("{line:010}")
}

/// One insurance certificate per line, each about its own person.
fn write_input(path: &Path) {
    let template = json!({
        "person": {"insurer_number": INSURER, "insured_number": "PLACEHOLDER"},
        "kind": "insurance_certificate",
        "content": content(DocumentKind::InsuranceCertificate, "9999999999", json!({})),
    })
    .to_string()
    .replace("9999999999", "PLACEHOLDER");
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for n in 1..=LINES {
        let line = match n {
            7 => r#"{"person": {"insurer_number": "131016""#.to_owned(),
            20_000 => template
                .replace("PLACEHOLDER", &insured(n))
                .replace("insurance_certificate", "no_such_kind"),
            50_001 => template
                .replace("PLACEHOLDER", &insured(n))
                .replace(INSURER, "271004"),
            77_777 => json!({
                "person": {"insurer_number": INSURER, "insured_number": insured(n)},
                "kind": "insurance_certificate",
            })
            .to_string(),
            99_999 => template.replace("PLACEHOLDER", "12AB"),
            _ => template.replace("PLACEHOLDER", &insured(n)),
        };
        writeln!(out, "{line}").unwrap();
    }
    out.flush().unwrap();
}

/// `carehub import` as `role`, stderr to `log`.
fn import(app: &TestApp, role: &str, report: &Path, log: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_carehub"));
    cmd.arg("import")
        .arg("--url")
        .arg(&app.base)
        .arg("--cert")
        .arg(app.pki.client_cert(role))
        .arg("--key")
        .arg(app.pki.client_key(role))
        .arg("--cacert")
        .arg(app.pki.ca_cert())
        .arg("--report")
        .arg(report)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    cmd
}

fn wait(child: &mut Child, limit: Duration) -> ExitStatus {
    let until = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("carehub import did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn report_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn count_lines(path: &Path) -> usize {
    std::fs::read(path)
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0)
}

#[test]
fn an_interrupted_import_resumes_and_stores_every_good_line_exactly_once() {
    let app = TestApp::spawn();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("certificates.ndjson");
    write_input(&input);
    let report = dir.path().join("report.ndjson");
    let log1 = dir.path().join("first.log");
    let batch = BATCH.to_string();
    let args = ["--batch-lines", &batch, "--progress-every", "1"];

    // First run: SIGINT once about half the lines are reported.
    let started = Instant::now();
    let mut child = import(&app, "municipality", &report, &log1, &args)
        .arg(&input)
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(90);
    while count_lines(&report) < LINES * 45 / 100 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before the interrupt: {}",
            std::fs::read_to_string(&log1).unwrap()
        );
        assert!(Instant::now() < until, "no progress in 90 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = wait(&mut child, Duration::from_secs(60));
    let log = std::fs::read_to_string(&log1).unwrap();
    assert_eq!(status.code(), Some(130), "{log}");
    assert!(log.contains("documents/s") && log.contains("ETA"), "{log}");
    assert!(log.contains("--resume"), "{log}");
    let first = report_lines(&report);
    assert_eq!(
        first.len() % BATCH,
        0,
        "the batch in flight was finished and reported whole"
    );
    assert!(
        first.len() >= LINES * 45 / 100 && first.len() < LINES,
        "stopped about half way: {}",
        first.len()
    );
    let stored_first = app.db().query_i64("SELECT count(*) FROM documents") as usize;
    let bad_in_first = BAD.iter().filter(|b| b.0 <= first.len()).count();
    assert_eq!(stored_first, first.len() - bad_in_first);

    // The report loses its last batch (as if killed between the hub's
    // commit and the report's write) and ends in a torn line.
    let all = std::fs::read_to_string(&report).unwrap();
    let mut kept: String = all
        .lines()
        .take(first.len() - BATCH)
        .map(|l| format!("{l}\n"))
        .collect();
    kept.push_str("{\"source\":\"certif");
    std::fs::write(&report, kept).unwrap();

    // Second run: --resume.
    let log2 = dir.path().join("second.log");
    let mut child = import(&app, "municipality", &report, &log2, &args)
        .arg("--resume")
        .arg(&input)
        .spawn()
        .unwrap();
    let status = wait(&mut child, Duration::from_secs(120));
    let log = std::fs::read_to_string(&log2).unwrap();
    assert_eq!(status.code(), Some(2), "some lines were refused: {log}");
    let skipped = first.len() - BATCH - BAD.iter().filter(|b| b.0 <= first.len() - BATCH).count();
    assert!(
        log.contains(&format!("{skipped} skipped as stored")),
        "{skipped} skipped: {log}"
    );

    // Every good line stored exactly once: one document and one version each.
    let good = (LINES - BAD.len()) as i64;
    assert_eq!(app.db().query_i64("SELECT count(*) FROM documents"), good);
    assert_eq!(
        app.db().query_i64("SELECT count(*) FROM document_versions"),
        good
    );

    // The report: every good line stored, the five bad ones refused with
    // their problem, nothing else.
    let mut by_line: HashMap<u64, Vec<&Value>> = HashMap::new();
    let lines = report_lines(&report);
    for l in &lines {
        assert_eq!(l["source"], input.display().to_string());
        by_line
            .entry(l["line"].as_u64().unwrap())
            .or_default()
            .push(l);
    }
    assert_eq!(by_line.len(), LINES, "every line is in the report");
    for n in 1..=LINES {
        let entries = &by_line[&(n as u64)];
        match BAD.iter().find(|b| b.0 == n) {
            Some((_, status, slug)) => {
                for e in entries {
                    assert_eq!(e["status"], *status, "line {n}: {e}");
                    assert_eq!(
                        e["problem"]["type"],
                        format!("urn:carehub:problem:{slug}"),
                        "line {n}: {e}"
                    );
                }
            }
            None => {
                assert!(
                    entries.iter().all(|e| e["status"] == 201),
                    "line {n}: {entries:?}"
                );
                assert!(
                    entries[0]["document_id"]
                        .as_str()
                        .unwrap()
                        .starts_with("doc_")
                );
                assert!(
                    entries[0]["idempotency_key"]
                        .as_str()
                        .unwrap()
                        .starts_with("imp-")
                );
            }
        }
    }
    // The lost batch was sent again and answered from the hub's records.
    let resent = lines.len() - (first.len() - BATCH);
    assert_eq!(resent, LINES - skipped);
    eprintln!(
        "import of {LINES} lines, interrupted and resumed: {:?}",
        started.elapsed()
    );
}

#[test]
fn standard_csv_files_and_json_files_import_with_a_report_and_resume() {
    let app = TestApp::spawn();
    let cm = app.client("care-manager");
    // The fixtures' person, 131011 0000012345.
    let resp = cm
        .post(app.url("/api/office-register/registrations"))
        .json(&json!({
            "person": {"insurer_number": "131011", "insured_number": "0000012345"},
            "verification_method": {"type": "my_number_card"},
            "verification_reference": "card-check-0042",
            "start": "2025-04-01T00:00:00+09:00",
        }))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let plan = |insured: &str| {
        let person = carehub_domain::PersonRef::new(
            carehub_domain::InsurerNumber::parse("131011").unwrap(),
            carehub_domain::InsuredNumber::parse(insured).unwrap(),
        );
        let mut c = carehub_domain::content::example_content(DocumentKind::CarePlan, &person);
        c["office_number"] = json!("1371234567");
        json!({
            "person": {"insurer_number": "131011", "insured_number": insured},
            "kind": "care_plan",
            "document_key": "json-plan-1",
            "content": c,
        })
    };
    // One the office may write, one about a person it is not registered for.
    let json_file = dir.path().join("plans.json");
    std::fs::write(
        &json_file,
        serde_json::to_vec(&json!([plan("0000012345"), plan("0000054321")])).unwrap(),
    )
    .unwrap();
    let csv_dir: PathBuf = workspace().join("tests/fixtures/csv/full");
    let report = dir.path().join("report.ndjson");
    let log = dir.path().join("log");
    let run = |extra: &[&str]| {
        let mut child = import(&app, "care-manager", &report, &log, extra)
            .arg(&csv_dir)
            .arg(&json_file)
            .spawn()
            .unwrap();
        let status = wait(&mut child, Duration::from_secs(60));
        (status.code(), std::fs::read_to_string(&log).unwrap())
    };

    let (code, text) = run(&[]);
    assert_eq!(code, Some(2), "{text}");
    let lines = report_lines(&report);
    assert_eq!(lines.len(), 3, "{lines:?}");
    let json_lines: Vec<&Value> = lines.iter().filter(|l| l.get("line").is_some()).collect();
    assert_eq!(json_lines[0]["status"], 201, "{lines:?}");
    assert_eq!(json_lines[1]["status"], 403, "{lines:?}");
    assert_eq!(
        json_lines[1]["problem"]["type"],
        "urn:carehub:problem:office-not-registered"
    );
    let csv = lines.iter().find(|l| l.get("files").is_some()).unwrap();
    assert_eq!(csv["status"], 201, "{csv}");
    assert_eq!(csv["files"].as_array().unwrap().len(), 5);
    assert_eq!(csv["document_key"], "csv-plan-20250405");
    assert!(
        csv["idempotency_key"]
            .as_str()
            .unwrap()
            .starts_with("imp-csv-")
    );

    // The report is never overwritten by accident.
    let (code, text) = run(&[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("--resume"), "{text}");
    assert_eq!(report_lines(&report).len(), 3);

    // --resume sends only the refused line again.
    let (code, text) = run(&["--resume"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("2 skipped as stored"), "{text}");
    let lines = report_lines(&report);
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[3]["status"], 403);
    assert_eq!(
        app.db().query_i64("SELECT count(*) FROM document_versions"),
        2
    );
}
