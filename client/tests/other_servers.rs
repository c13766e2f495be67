//! Another server of this protocol, spelling things its own way: the client reads what is
//! unambiguous and shows the rest as error lines, without crashing or losing the connection.

use chatterbox_server::tls;
use futures_util::{SinkExt, StreamExt};
use shared::codec::FrameCodec;
use test_support::{Cli, bin};
use tokio::net::TcpListener;
use tokio_util::codec::Framed;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variations_are_understood_and_nonsense_is_shown_as_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = tls::ensure_dev_certs(dir.path()).expect("certs");
    let acceptor = tokio_rustls::TlsAcceptor::from(
        tls::server_config(&certs.cert, &certs.key).expect("tls config"),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let tls = acceptor.accept(tcp).await.expect("handshake");
        let mut io = Framed::new(tls, FrameCodec::new(1 << 20));
        let login = io.next().await.expect("a login").expect("framing");
        assert!(String::from_utf8_lossy(&login).contains("\"USERNAME\":\"ann\""));
        for frame in [
            r#"{"Username_Accepted":"true","Info":"hello from elsewhere","user_list":[{"name":"ann"},{"name":"zed"}],
               "messages":[{"src":"zed","dest":"ALL","timestamp":"1700000000","content":"old news"}]}"#,
            r#"[1,2,3]"#,
            r#"{"USERS_JOINED":5}"#,
            r#"{"MESSAGES":[["zed","ALL",1700000001.5,"still here"]]}"#,
        ] {
            io.send(frame.as_bytes()).await.expect("send");
        }
        // keep the connection open until the client leaves
        while io.next().await.is_some() {}
    });
    let ca = certs.ca.expect("CA").display().to_string();
    let port = port.to_string();
    let mut cli = Cli::spawn(
        bin!("chatterbox"),
        &["localhost", "-p", &port, "--ca", &ca, "--username", "ann", "--plain"],
    );
    cli.expect("-- hello from elsewhere You are ann.");
    cli.expect("<zed> old news");
    cli.expect("-- online (2): ann, zed");
    cli.expect("!! unreadable frame from the server");
    cli.expect("!! unreadable frame from the server: The frame has the wrong shape: USERS_JOINED");
    cli.expect("<zed> still here");
    cli.send("/quit");
    assert_eq!(cli.wait(), 0);
    server.await.expect("fake server");
}
