//! TLS connections that verify the server against the generated development CA.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::PATIENCE;

/// A connector that trusts exactly the CA certificates in the PEM file `ca`.
pub fn tls_connector(ca: &Path) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("CA file") {
        roots.add(cert.expect("CA cert")).expect("CA accepted");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// A TLS handshake as `localhost` that may fail (a server refusing the connection closes it
/// before the handshake completes).
pub async fn try_tls(addr: SocketAddr, ca: &Path) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").expect("name");
    tls_connector(ca).connect(name, tcp).await
}

/// A TLS connection to the server, verified as `localhost`.
pub async fn tls_connect(addr: SocketAddr, ca: &Path) -> TlsStream<TcpStream> {
    tls_connect_as(addr, ca, "localhost").await
}

/// A TLS connection to the server, verified as `name` (a host name or an address).
pub async fn tls_connect_as(addr: SocketAddr, ca: &Path, name: &str) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.expect("TCP connect");
    tcp.set_nodelay(true).expect("nodelay");
    let name = ServerName::try_from(name.to_owned()).expect("server name");
    tls_connector(ca).connect(name, tcp).await.expect("TLS handshake")
}

/// Reads and discards what arrives on `stream` until the peer closes it (or resets it);
/// whether it did within [`PATIENCE`].
pub async fn stream_closed(stream: &mut (impl AsyncRead + Unpin)) -> bool {
    let mut buf = [0u8; 512];
    let closed = async {
        while let Ok(n) = stream.read(&mut buf).await
            && n > 0
        {}
    };
    tokio::time::timeout(PATIENCE, closed).await.is_ok()
}

/// A TLS connection to `addr` from the local address `source` (such as 127.0.0.2: another
/// client address on the loopback network, for the per-address rules).
pub async fn tls_connect_from(
    addr: SocketAddr,
    ca: &Path,
    source: std::net::IpAddr,
) -> TlsStream<TcpStream> {
    let sock = if source.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .expect("socket");
    sock.bind(SocketAddr::new(source, 0)).expect("bind the source address");
    let tcp = sock.connect(addr).await.expect("TCP connect");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    tls_connector(ca).connect(name, tcp).await.expect("TLS handshake")
}
