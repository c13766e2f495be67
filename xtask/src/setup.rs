//! `cargo xtask setup`: installs the tools that are missing, each only if absent, and says
//! where they are (the tools' PATH).

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd::{cargo, output, step};

/// Trunk's version: 0.22 needs a newer rustc than this toolchain.
const TRUNK_VERSION: &str = "0.21.14";
/// npm's binaryen: Debian's wasm-opt (108) produces wasm that crashes in the browser.
const BINARYEN_VERSION: &str = "132";

/// Where npm installs binaryen (outside the repository, shared by clones).
fn tools_dir() -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    home.join(".cache/chatterbox-tools")
}

/// PATH with the tools first.
pub fn tool_path() -> std::ffi::OsString {
    let mut paths = vec![tools_dir().join("node_modules/.bin")];
    if let Some(cargo_home) = std::env::var_os("CARGO_HOME") {
        paths.push(PathBuf::from(cargo_home).join("bin"));
    } else if let Some(home) = std::env::var_os("HOME") {
        paths.push(PathBuf::from(home).join(".cargo/bin"));
    }
    paths.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    std::env::join_paths(paths).unwrap_or_default()
}

/// A command for one of the tools, found on the tools' PATH.
pub fn tool(name: &str) -> Command {
    let mut c = Command::new(name);
    c.env("PATH", tool_path());
    c
}

/// The first line a tool prints for `--version`, if it runs.
fn version_of(name: &str) -> Option<String> {
    output(tool(name).arg("--version")).map(|v| v.lines().next().unwrap_or_default().to_owned())
}

/// The wasm-bindgen version Cargo.lock pins.
fn locked_wasm_bindgen() -> Result<String> {
    let lock = std::fs::read_to_string("Cargo.lock").context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\""
            && let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = \""))
        {
            return Ok(v.trim_end_matches('"').to_owned());
        }
    }
    bail!("wasm-bindgen is not in Cargo.lock")
}

/// Whether rustup has a nightly toolchain (for fuzzing).
pub fn has_nightly() -> bool {
    output(Command::new("rustup").args(["toolchain", "list"]))
        .is_some_and(|t| t.contains("nightly"))
}

/// Installs what is missing, each only if absent, so repeated runs touch nothing. With
/// `browser`, Chromium and chromedriver too (for the browser tests).
pub fn setup(browser: bool) -> Result<()> {
    if let Some(installed) =
        output(Command::new("rustup").args(["component", "list", "--installed"]))
    {
        for component in ["rustfmt", "clippy"] {
            if !installed.lines().any(|l| l.starts_with(component)) {
                step(
                    &format!("install {component}"),
                    Command::new("rustup").args(["component", "add", component]),
                )?;
            }
        }
        let targets = output(Command::new("rustup").args(["target", "list", "--installed"]))
            .unwrap_or_default();
        if !targets.lines().any(|l| l.trim() == "wasm32-unknown-unknown") {
            step(
                "install the wasm32 target",
                Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]),
            )?;
        }
    }
    if !version_of("trunk").is_some_and(|v| v.ends_with(TRUNK_VERSION)) {
        step(
            &format!("install trunk {TRUNK_VERSION} (several minutes, once)"),
            cargo().args(["install", "trunk", "--version", TRUNK_VERSION, "--locked"]),
        )?;
    }
    let wb = locked_wasm_bindgen()?;
    if !version_of("wasm-bindgen").is_some_and(|v| v.ends_with(&wb)) {
        // Not --locked: its lockfile wants a crate version the registry no longer has.
        step(
            &format!("install wasm-bindgen-cli {wb} (the version in Cargo.lock)"),
            cargo().args(["install", "wasm-bindgen-cli", "--version", &wb, "--force"]),
        )?;
    }
    if !version_of("wasm-opt").is_some_and(|v| v.contains(&format!("version {BINARYEN_VERSION}"))) {
        let dir = tools_dir();
        std::fs::create_dir_all(&dir).context("creating the tools directory")?;
        step(
            &format!("install wasm-opt (npm binaryen@{BINARYEN_VERSION})"),
            Command::new("npm")
                .arg("install")
                .arg("--prefix")
                .arg(&dir)
                .arg(format!("binaryen@{BINARYEN_VERSION}")),
        )?;
    }
    if browser && (version_of("chromium").is_none() || version_of("chromedriver").is_none()) {
        step("apt-get update", Command::new("apt-get").arg("update"))?;
        step(
            "install chromium and chromedriver",
            Command::new("apt-get")
                .args(["install", "-y", "chromium", "chromium-driver"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
    }
    if output(Command::new("python3").arg("--version")).is_none() {
        bail!("python3 is needed for the conformance suite (../shared/conformance)");
    }
    if has_nightly() && version_of("cargo-fuzz").is_none() {
        step("install cargo-fuzz", cargo().args(["install", "cargo-fuzz", "--locked"]))?;
    }
    Ok(())
}
