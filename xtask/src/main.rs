//! `cargo xtask …`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! - `cargo xtask run [SERVER ARGS…]`: build the release server and run it (certificates and the
//!   database are created on first run).
//! - `cargo xtask test`: everything CI checks: formatting, clippy with warnings denied, every
//!   test (the integration tests start real servers and run the shared conformance suite
//!   against the real binary), and the wasm32 build of the protocol crate. Installs the
//!   toolchain parts it needs when they are missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    let root = workspace_root();
    std::env::set_current_dir(&root).context("entering the workspace root")?;
    match task.as_str() {
        "run" => run(&rest),
        "test" => test(),
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\n\
                 tasks:\n  \
                 run [ARGS…]   build the release server and run it (ARGS go to chatterbox-server)\n  \
                 test          fmt check, clippy -D warnings, all tests, wasm32 check of shared"
            );
            if task.is_empty() || task == "help" || task == "--help" {
                Ok(())
            } else {
                bail!("unknown task {task:?}")
            }
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs a command, failing with its description if it fails.
fn step(what: &str, cmd: &mut Command) -> Result<()> {
    eprintln!("==> {what}");
    let status = cmd.status().with_context(|| format!("starting: {what}"))?;
    if !status.success() {
        bail!("failed: {what} ({status})");
    }
    Ok(())
}

fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn run(args: &[String]) -> Result<()> {
    step(
        "build the release server",
        cargo().args(["build", "--release", "--package", "chatterbox-server"]),
    )?;
    let bin = Path::new("target/release/chatterbox-server");
    step("run chatterbox-server", Command::new(bin).args(args))
}

/// Adds rustup components and targets that are missing (each only if absent, so repeated runs
/// touch nothing).
fn ensure_toolchain() -> Result<()> {
    let Some(installed) = output(Command::new("rustup").args(["component", "list", "--installed"]))
    else {
        eprintln!("==> rustup not found; assuming the toolchain has rustfmt, clippy and wasm32");
        return Ok(());
    };
    for component in ["rustfmt", "clippy"] {
        if !installed.lines().any(|l| l.starts_with(component)) {
            step(
                &format!("install {component}"),
                Command::new("rustup").args(["component", "add", component]),
            )?;
        }
    }
    let targets =
        output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if !targets.lines().any(|l| l.trim() == "wasm32-unknown-unknown") {
        step(
            "install the wasm32 target",
            Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]),
        )?;
    }
    if output(Command::new("python3").arg("--version")).is_none() {
        bail!("python3 is needed for the conformance suite (../shared/conformance)");
    }
    Ok(())
}

fn test() -> Result<()> {
    ensure_toolchain()?;
    step("cargo fmt --check", cargo().args(["fmt", "--all", "--", "--check"]))?;
    step(
        "cargo clippy -D warnings",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    step(
        "wasm32 build of the protocol crate (no tokio)",
        cargo().args([
            "check",
            "--package",
            "chatterbox-shared",
            "--target",
            "wasm32-unknown-unknown",
        ]),
    )?;
    let (passed, failed) = run_tests(cargo().args(["test", "--workspace", "--all-features"]))?;
    eprintln!("==> all checks passed");
    // The closing line sums every test binary's results (cargo's own last line is the doc
    // tests' count).
    println!("tests: {passed} passed, {failed} failed");
    Ok(())
}

/// Runs the test command, passing its output through while adding up the `test result:`
/// lines; fails if the command fails.
fn run_tests(cmd: &mut Command) -> Result<(u64, u64)> {
    use std::io::{BufRead, BufReader, Write};
    eprintln!("==> every test, the conformance suite against the real server included");
    let mut child =
        cmd.stdout(std::process::Stdio::piped()).spawn().context("starting cargo test")?;
    let stdout = child.stdout.take().context("cargo test output")?;
    let (mut passed, mut failed) = (0, 0);
    let mut out = std::io::stdout().lock();
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading cargo test output")?;
        if let Some(rest) = line.strip_prefix("test result: ") {
            passed += count(rest, " passed");
            failed += count(rest, " failed");
        }
        writeln!(out, "{line}").context("writing output")?;
    }
    let status = child.wait().context("waiting for cargo test")?;
    if !status.success() {
        println!("tests: {passed} passed, {} failed", failed.max(1));
        bail!("failed: cargo test ({status})");
    }
    Ok((passed, failed))
}

/// The number before `label` in a `test result:` line ("ok. 19 passed; 0 failed; …").
fn count(line: &str, label: &str) -> u64 {
    line.split(';')
        .find_map(|part| part.trim().strip_suffix(label.trim()).map(str::trim))
        .map(|n| n.rsplit(' ').next().unwrap_or(n))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
