//! Temporary data and certificate directories that outlive server restarts.

use std::path::PathBuf;

#[cfg(feature = "in-process")]
use chatterbox_server::Config;

/// A temporary directory holding a server's `data/` and `certs/`; removed when dropped.
#[derive(Debug)]
pub struct Dirs {
    /// The directory itself; kept so that it lives as long as the test needs it.
    pub root: tempfile::TempDir,
}

impl Default for Dirs {
    fn default() -> Self {
        Dirs::new()
    }
}

impl Dirs {
    pub fn new() -> Self {
        Dirs { root: tempfile::tempdir().expect("tempdir") }
    }

    pub fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }

    pub fn certs(&self) -> PathBuf {
        self.root.path().join("certs")
    }

    /// The generated development CA, which clients verify the server against.
    pub fn ca(&self) -> PathBuf {
        self.certs().join("ca.pem")
    }

    /// The default configuration on these directories, both ports on `127.0.0.1:0`.
    #[cfg(feature = "in-process")]
    pub fn config(&self) -> Config {
        Config {
            host: "127.0.0.1".into(),
            port: 0,
            web_port: Some(0),
            data_dir: self.data(),
            certs_dir: self.certs(),
            ..Config::default()
        }
    }
}
