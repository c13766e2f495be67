//! `cargo xtask fuzz [SECS]`: each fuzz target for a while, from its corpus.

use anyhow::{Result, bail};

use crate::cmd::step;
use crate::setup::{has_nightly, tool};

/// The fuzz targets (fuzz/fuzz_targets/*.rs).
const FUZZ_TARGETS: [&str; 2] = ["frame_decoder", "routing"];

/// Runs each fuzz target for `secs` seconds from its corpus (cargo-fuzz, nightly).
pub fn fuzz(secs: u64) -> Result<()> {
    if !has_nightly() {
        bail!("fuzzing needs the nightly toolchain (rustup toolchain install nightly)");
    }
    for target in FUZZ_TARGETS {
        let corpus = format!("corpus/{target}");
        step(
            &format!("fuzz {target} for {secs} s"),
            tool("cargo")
                .current_dir("fuzz")
                .args(["+nightly", "fuzz", "run", target, &corpus, "--"])
                .arg(format!("-max_total_time={secs}"))
                .arg("-rss_limit_mb=2048"),
        )?;
    }
    Ok(())
}
