//! TLS: the development certificate authority and the rustls server configuration.
//!
//! Without a certificate of its own the server creates, on first run, a development CA and a
//! server certificate signed by it for `localhost`, `127.0.0.1` and `::1`, and reuses them on
//! later runs. Clients trust the CA file (`ca.pem`). The CA's private key is not kept: nothing
//! can be signed with the development CA after the first run.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The development CA's certificate (PEM), which clients trust. This and the two below are
/// file names in the certificates directory.
pub const CA_FILE: &str = "ca.pem";
/// The server certificate (PEM).
pub const SERVER_CERT_FILE: &str = "server.pem";
/// The server's private key (PEM); never committed.
pub const SERVER_KEY_FILE: &str = "server-key.pem";

/// Names the development certificate is valid for.
pub const DEV_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// A PEM file held nothing usable.
    #[error("{path}: {what}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
    },
    /// Generating the development certificates failed.
    #[error("generating the development certificates: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificate or key.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Where the certificate files in use are.
#[derive(Debug, Clone)]
pub struct CertPaths {
    /// The CA clients should trust (only for generated certificates).
    pub ca: Option<PathBuf>,
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

fn file_err(path: &Path) -> impl FnOnce(io::Error) -> TlsError + '_ {
    move |source| TlsError::File { path: path.to_owned(), source }
}

/// Returns the development certificates in `dir`, creating them first if they are missing.
pub fn ensure_dev_certs(dir: &Path) -> Result<CertPaths, TlsError> {
    let paths = CertPaths {
        ca: Some(dir.join(CA_FILE)),
        cert: dir.join(SERVER_CERT_FILE),
        key: dir.join(SERVER_KEY_FILE),
    };
    let ca = dir.join(CA_FILE);
    if ca.exists() && paths.cert.exists() && paths.key.exists() {
        return Ok(paths);
    }
    fs::create_dir_all(dir).map_err(file_err(dir))?;

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.distinguished_name.push(DnType::CommonName, "Chatterbox development CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate()?;
    let issuer = CertifiedIssuer::self_signed(ca_params, ca_key)?;

    let mut params = CertificateParams::new(DEV_NAMES.map(String::from).to_vec())?;
    params.distinguished_name.push(DnType::CommonName, "localhost");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;

    write_private(&paths.key, key.serialize_pem().as_bytes())?;
    fs::write(&paths.cert, cert.pem()).map_err(file_err(&paths.cert))?;
    // The CA goes last: its presence marks a complete set.
    fs::write(&ca, issuer.pem()).map_err(file_err(&ca))?;
    Ok(paths)
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).map_err(file_err(path))?;
    f.write_all(bytes).map_err(file_err(path))
}

/// The rustls configuration: TLS 1.3 and 1.2 only, the ring provider, no client certificates.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| TlsError::Pem { path: cert.to_owned(), what: e.to_string() })?
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem { path: cert.to_owned(), what: e.to_string() })?;
    if chain.is_empty() {
        return Err(TlsError::Pem { path: cert.to_owned(), what: "no certificate".into() });
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| TlsError::Pem { path: key.to_owned(), what: e.to_string() })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(Arc::new(config))
}
