//! Embeds the migrations from `shared/migrations/{sqlite,postgres}/` so the
//! gateway binary applies them without needing the source tree.

use std::fmt::Write as _;
use std::path::PathBuf;

fn embed(out: &mut String, dialect: &str, konst: &str, what: &str) {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap())
        .join("../shared/migrations")
        .join(dialect);
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "sql"));
    files.sort();
    writeln!(
        out,
        "/// {what} migrations, in the order they apply: (file name, SQL).\npub const {konst}: &[(&str, &str)] = &["
    )
    .unwrap();
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f.file_name().unwrap().to_string_lossy();
        writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            f.display().to_string()
        )
        .unwrap();
    }
    out.push_str("];\n");
}

fn main() {
    let mut out = String::new();
    embed(&mut out, "sqlite", "SQLITE", "SQLite");
    embed(&mut out, "postgres", "POSTGRES", "PostgreSQL");
    embed(
        &mut out,
        "sqlite-accesslog",
        "SQLITE_ACCESSLOG",
        "SQLite access-log database (label `accesslog`)",
    );
    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("migrations.rs");
    std::fs::write(dest, out).unwrap();
}
