//! The browser client's release build (which the server embeds) and `cargo xtask run`.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd::{cargo, output, step};
use crate::setup::{setup, tool};

/// The most the browser client's wasm may weigh, gzip-compressed.
const WASM_GZIP_BUDGET: u64 = 300 * 1024;

/// Builds the browser client into dist/ (which the server embeds when it is compiled) and
/// checks its size against the budget.
pub fn build_web() -> Result<()> {
    step(
        "build the web client (trunk build --release)",
        tool("trunk").args(["build", "--release"]),
    )?;
    for entry in std::fs::read_dir("dist").context("reading dist/")? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wasm") {
            let raw = std::fs::metadata(&path)?.len();
            let gz = output(
                Command::new("sh").arg("-c").arg(format!("gzip -9c '{}' | wc -c", path.display())),
            )
            .and_then(|s| s.trim().parse::<u64>().ok())
            .context("measuring the gzip size (gzip)")?;
            eprintln!("==> {}: {} KB raw, {} KB gzip", path.display(), raw / 1000, gz / 1000);
            if gz > WASM_GZIP_BUDGET {
                bail!("the web client is {gz} bytes gzip, over the budget of {WASM_GZIP_BUDGET}");
            }
        }
    }
    Ok(())
}

/// `cargo xtask run [ARGS…]`: the browser client, then the release server that embeds it, run
/// with `args`.
pub fn run(args: &[String]) -> Result<()> {
    setup(false)?;
    build_web()?;
    step(
        "build the release server (the web client embedded)",
        cargo().args(["build", "--release", "--package", "chatterbox-server"]),
    )?;
    let bin = Path::new("target/release/chatterbox-server");
    step("run chatterbox-server", Command::new(bin).args(args))
}
