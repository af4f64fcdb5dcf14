//! `carehub-openapi`: writes the OpenAPI document to `infra/openapi.json`
//! (or `--out <file>`), or with `--check` tells whether that file is
//! current.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

/// Write (or check) carehub's OpenAPI document.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The file to write or check; default `infra/openapi.json` in this
    /// workspace.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Write nothing: exit non-zero when the file differs from the document.
    #[arg(long)]
    check: bool,
}

fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let regenerate = match &args.out {
        None => "cargo run -p carehub-openapi".to_owned(),
        Some(out) => format!("cargo run -p carehub-openapi -- --out {}", out.display()),
    };
    let path = args.out.unwrap_or_else(carehub_openapi::default_path);
    let want = carehub_openapi::render();
    if !args.check {
        std::fs::write(&path, &want).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    match std::fs::read_to_string(&path) {
        Ok(have) if have == want => {
            println!("{} is up to date", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Ok(_) => {
            eprintln!(
                "{} is stale: it differs from the document the code builds; regenerate it with `{regenerate}`",
                path.display()
            );
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            eprintln!(
                "{} cannot be read ({e}); write it with `{regenerate}`",
                path.display()
            );
            Ok(ExitCode::FAILURE)
        }
    }
}
