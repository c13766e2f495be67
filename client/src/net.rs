//! Connecting: every resolved address in turn, TLS verified against the system's roots plus
//! an optional CA file, and errors that say what to do about them.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use shared::codec::{FrameCodec, FrameError};
use shared::lenient::decode_lenient;
use shared::limits::MAX_SERVER_FRAME_LEN;
use shared::{DecodeError, Frame};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::codec::Framed;

/// Time allowed for one address's TCP connect and TLS handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why no connection could be made. The `Display` text ends with what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The CA file could not be used.
    #[error("cannot use the CA file {path}: {what} (pass the server's certs/ca.pem with --ca)")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// rustls refused the TLS configuration itself (no CA file involved).
    #[error("cannot set up TLS: {0} (this build's TLS provider is unusable; please report it)")]
    TlsSetup(rustls::Error),
    /// The name did not resolve.
    #[error("cannot resolve {host}: {source} (check the server name)")]
    Resolve {
        /// The host.
        host: String,
        /// The resolver's answer.
        source: io::Error,
    },
    /// No address accepted a TCP connection.
    #[error("cannot connect to {host} port {port}: {source} (is the server running there?)")]
    Connect {
        /// The host.
        host: String,
        /// The port.
        port: u16,
        /// The last address's error.
        source: io::Error,
    },
    /// The TLS handshake failed; `hint` says why in words.
    #[error("TLS with {host} failed: {source}{hint}")]
    Tls {
        /// The host.
        host: String,
        /// What rustls said.
        source: io::Error,
        /// The likely fix, with a leading separator, or empty.
        hint: String,
    },
}

impl ConnectError {
    /// True when trying again later cannot help (a certificate or CA problem).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            ConnectError::CaFile { .. } | ConnectError::TlsSetup(_) | ConnectError::Tls { .. }
        )
    }
}

/// The TLS configuration: the system's root certificates plus `ca`, if given.
pub fn tls_config(ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, ConnectError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca {
        let err = |what: String| ConnectError::CaFile { path: path.to_owned(), what };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| err(e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| err(e.to_string()))?;
        if certs.is_empty() {
            return Err(err("no certificate in it".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| err(e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(ConnectError::TlsSetup)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn tls_hint(e: &io::Error, had_ca: bool) -> String {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)) => {
            if had_ca {
                " — the certificate is not signed by the CA given with --ca".into()
            } else {
                " — the server's certificate is not trusted: pass --ca certs/ca.pem (the CA \
                 the server generated)"
                    .into()
            }
        }
        Some(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName
            | rustls::CertificateError::NotValidForNameContext { .. },
        )) => " — the certificate is for another name: connect with the name it was made for \
               (localhost for the development certificate)"
            .into(),
        Some(rustls::Error::InvalidCertificate(_)) => {
            " — the server's certificate is not acceptable (expired or damaged?)".into()
        }
        _ => " — is this a Chatterbox TLS port?".into(),
    }
}

/// Connects to `host:port`, trying every address the name resolves to in turn.
pub async fn connect(
    host: &str,
    port: u16,
    tls: Arc<rustls::ClientConfig>,
    had_ca: bool,
) -> Result<(TlsStream<TcpStream>, SocketAddr), ConnectError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|source| ConnectError::Resolve { host: host.to_owned(), source })?
        .collect();
    let name = ServerName::try_from(bare.to_owned()).map_err(|e| ConnectError::Resolve {
        host: host.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidInput, e),
    })?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the name has no addresses");
    for addr in addrs {
        let tcp = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => {
                last = e;
                continue;
            }
            Err(_) => {
                last = io::Error::new(io::ErrorKind::TimedOut, format!("{addr} timed out"));
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let handshake = TlsConnector::from(Arc::clone(&tls)).connect(name.clone(), tcp);
        return match tokio::time::timeout(CONNECT_TIMEOUT, handshake).await {
            Ok(Ok(stream)) => Ok((stream, addr)),
            Ok(Err(source)) => {
                let hint = tls_hint(&source, had_ca);
                Err(ConnectError::Tls { host: host.to_owned(), source, hint })
            }
            Err(_) => Err(ConnectError::Tls {
                host: host.to_owned(),
                source: io::Error::new(io::ErrorKind::TimedOut, "the handshake timed out"),
                hint: " — is this a Chatterbox TLS port?".into(),
            }),
        };
    }
    Err(ConnectError::Connect { host: host.to_owned(), port, source: last })
}

/// One connection speaking frames.
#[derive(Debug)]
pub struct Conn {
    io: Framed<TlsStream<TcpStream>, FrameCodec>,
}

/// What arrived.
#[derive(Debug)]
pub enum Incoming {
    /// A frame, liberally decoded.
    Frame(Box<Frame>),
    /// A payload that is not a protocol object; the connection goes on.
    Bad(DecodeError),
}

impl Conn {
    /// Frames a connected stream.
    pub fn new(stream: TlsStream<TcpStream>) -> Self {
        Conn { io: Framed::new(stream, FrameCodec::new(MAX_SERVER_FRAME_LEN)) }
    }

    /// Takes compressed frames in from now on (asking for `compress`), and with `send`
    /// (granted) sends them too.
    pub fn compress(&mut self, send: bool) {
        if send {
            self.io.codec_mut().compress(true);
        } else {
            self.io.codec_mut().accept_compressed();
        }
    }

    /// Sends one frame (in one write).
    pub async fn send(&mut self, frame: &Frame) -> Result<(), FrameError> {
        let json = shared::encode(frame);
        self.io.send(&json[..]).await
    }

    /// The next frame; `None` when the connection has ended.
    pub async fn recv(&mut self) -> Option<Result<Incoming, FrameError>> {
        let payload = match self.io.next().await? {
            Ok(p) => p,
            Err(e) => return Some(Err(e)),
        };
        Some(Ok(match decode_lenient(&payload) {
            Ok(f) => Incoming::Frame(Box::new(f)),
            Err(e) => Incoming::Bad(e),
        }))
    }

    /// Closes the connection in an orderly way.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.io.close()).await;
    }
}
