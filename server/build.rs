//! Embeds the web client's release build (`dist/` at the workspace root, made by
//! `trunk build --release`; `CHATTERBOX_WEB_DIST` points elsewhere) into the server binary.
//! Without a build, a small page says how to make one, so the server always compiles.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn files(dir: &Path, base: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let path = e.path();
        if path.is_dir() {
            files(&path, base, out);
        } else if let Ok(rel) = path.strip_prefix(base) {
            let url = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.push((url, path));
        }
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=CHATTERBOX_WEB_DIST");
    let dist = std::env::var_os("CHATTERBOX_WEB_DIST").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default()).join("../dist")
    });
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut found = Vec::new();
    if dist.join("index.html").is_file() {
        files(&dist, &dist, &mut found);
    }
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let mut code = String::from(
        "/// The web client's files: (URL path, contents).\npub static ASSETS: &[(&str, &[u8])] = &[\n",
    );
    if found.is_empty() {
        let placeholder = out_dir.join("placeholder.html");
        let page = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Chatterbox</title></head>\
                    <body><h1>Chatterbox</h1><p>This server was built without the web client. Build it with \
                    <code>cargo xtask run</code> (or <code>trunk build --release</code> before building the server).</p></body></html>";
        std::fs::write(&placeholder, page).expect("write placeholder");
        let _ = writeln!(
            code,
            "    (\"index.html\", include_bytes!({:?})),",
            placeholder.display().to_string()
        );
    } else {
        for (url, path) in &found {
            let _ =
                writeln!(code, "    ({url:?}, include_bytes!({:?})),", path.display().to_string());
        }
    }
    code.push_str("];\n");
    let _ = writeln!(
        code,
        "/// Whether the real web client is embedded.\npub const BUILT: bool = {};",
        !found.is_empty()
    );
    std::fs::write(out_dir.join("assets.rs"), code).expect("write assets.rs");
}
