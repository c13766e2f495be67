//! The browser client in real headless Chromium (driven through chromedriver), with a native
//! client in the same chat. Needs the web client built into the server (`trunk build
//! --release` before compiling) and chromium with chromedriver installed: `cargo xtask test`
//! does both and runs these with `--include-ignored`. Screenshots go to
//! `target/browser-screenshots/`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client as Browser, ClientBuilder, Locator};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::json;
use test_support::*;

/// How often a page is looked at again while waiting for it to change.
const POLL: Duration = Duration::from_millis(100);

struct Driver {
    child: Child,
    port: u16,
    _profiles: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn chromedriver() -> Driver {
    let port = free_port();
    let child =
        Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (apt-get install chromium-driver, or cargo xtask setup)");
    let deadline = Instant::now() + PATIENCE;
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(POLL).await;
    }
    Driver { child, port, _profiles: tempfile::tempdir().expect("profiles") }
}

/// The base64 SHA-256 of the server certificate's public key, for Chromium's
/// `--ignore-certificate-errors-spki-list` (trusting exactly this development certificate).
fn spki_pin(cert_pem: &Path) -> String {
    let der = CertificateDer::from_pem_file(cert_pem).expect("server certificate");
    let cert = webpki::EndEntityCert::try_from(&der).expect("parse certificate");
    let spki = cert.subject_public_key_info();
    let digest = ring::digest::digest(&ring::digest::SHA256, spki.as_ref());
    chatterbox_server::http::base64(digest.as_ref())
}

async fn browser(driver: &Driver, pin: &str, profile: &str) -> Browser {
    let dir = driver._profiles.path().join(profile);
    let caps = json!({
        "goog:chromeOptions": {
            "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1000,700",
                format!("--user-data-dir={}", dir.display()),
                format!("--ignore-certificate-errors-spki-list={pin}"),
            ]
        }
    });
    let serde_json::Value::Object(caps) = caps else { unreachable!() };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a browser session")
}

/// Waits until the element's text satisfies `ok`; returns the text.
async fn wait_text(b: &Browser, css: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + PATIENCE;
    let mut last = String::new();
    loop {
        if let Ok(el) = b.find(Locator::Css(css)).await
            && let Ok(text) = el.text().await
        {
            if ok(&text) {
                return text;
            }
            last = text;
        }
        assert!(Instant::now() < deadline, "{css}: text never as expected; last:\n{last}");
        tokio::time::sleep(POLL).await;
    }
}

async fn messages(b: &Browser) -> String {
    b.find(Locator::Css("[data-test=messages]"))
        .await
        .expect("message list")
        .text()
        .await
        .expect("text")
}

async fn login(b: &Browser, web: SocketAddr, name: &str) {
    b.goto(&format!("https://localhost:{}/", web.port())).await.expect("open the page");
    type_name(b, name).await;
}

async fn type_name(b: &Browser, name: &str) {
    let input =
        b.wait().at_most(PATIENCE).for_element(Locator::Id("username")).await.expect("login form");
    input.clear().await.expect("clear");
    input.send_keys(&format!("{name}\n")).await.expect("type the name");
}

async fn say(b: &Browser, text: &str) {
    let input = b
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("[data-test=composer]"))
        .await
        .expect("composer");
    input.send_keys(&format!("{text}\n")).await.expect("type");
}

async fn screenshot(b: &Browser, name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/browser-screenshots");
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(png) = b.screenshot().await {
        let _ = std::fs::write(dir.join(format!("{name}.png")), png);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the web client built in and chromium; cargo xtask test runs it"]
async fn two_browsers_and_a_terminal_user_chat_block_and_survive_a_restart() {
    assert!(
        chatterbox_server::http::web_client_built(),
        "the server was compiled without the web client: run `trunk build --release` first"
    );
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let web = server.web.expect("gateway");
    let pin = spki_pin(&dirs.certs().join("server.pem"));
    let driver = chromedriver().await;
    let b1 = browser(&driver, &pin, "one").await;
    let b2 = browser(&driver, &pin, "two").await;

    // login, and a refused duplicate name with the server's reason, then a retry
    login(&b1, web, "web1").await;
    wait_text(&b1, "[data-test=status]", |t| t.contains("Connected as web1")).await;
    login(&b2, web, "web1").await;
    wait_text(&b2, "[data-test=login-error]", |t| t.contains("already in use")).await;
    screenshot(&b2, "01-refused-name").await;
    type_name(&b2, "web2").await;
    wait_text(&b2, "[data-test=status]", |t| t.contains("Connected as web2")).await;
    let mut term = server.user("term").await;

    // a broadcast seen by all three
    say(&b1, "hello from web1").await;
    assert_eq!(term.recv_message("hello from web1").await.src, "web1");
    wait_text(&b2, "[data-test=messages]", |t| t.contains("web1: hello from web1")).await;
    term.say("ALL", "hello from the terminal").await;
    wait_text(&b1, "[data-test=messages]", |t| t.contains("term: hello from the terminal")).await;

    // a private message seen only by its target
    term.say("web2", "psst web2").await;
    wait_text(&b2, "[data-test=messages]", |t| t.contains("term → you (private): psst web2")).await;
    wait_text(&b2, "[data-test=unread]", |t| t.trim() == "1").await;
    term.say("ALL", "sentinel one").await;
    wait_text(&b1, "[data-test=messages]", |t| t.contains("sentinel one")).await;
    assert!(!messages(&b1).await.contains("psst web2"));

    // HTML from users is shown as text, never interpreted
    term.say("ALL", "<script>window.pwned=1</script> and <b>bold</b>").await;
    wait_text(&b2, "[data-test=messages]", |t| {
        t.contains("<script>window.pwned=1</script> and <b>bold</b>")
    })
    .await;
    assert!(b2.find_all(Locator::Css("[data-test=messages] b")).await.expect("query").is_empty());
    let pwned = b2.execute("return window.pwned === undefined;", vec![]).await.expect("script");
    assert_eq!(pwned, json!(true));
    screenshot(&b2, "02-chat").await;
    // phone width: the user list moves below the conversation, the composer stays usable
    b2.set_window_size(390, 800).await.expect("resize");
    let composer = b2.find(Locator::Css("[data-test=composer]")).await.expect("composer");
    assert!(composer.is_displayed().await.expect("displayed"));
    screenshot(&b2, "02b-phone-width").await;
    b2.set_window_size(1000, 700).await.expect("resize");

    // web1 blocks term: nothing passes either way, web2 still sees both
    let rows = b1.find_all(Locator::Css(".users li")).await.expect("users");
    let mut clicked = false;
    for row in rows {
        if row.text().await.unwrap_or_default().starts_with("term")
            && let Ok(button) = row.find(Locator::Css("[data-test=block]")).await
        {
            button.click().await.expect("block");
            clicked = true;
        }
    }
    assert!(clicked, "a block button next to term");
    wait_text(&b1, "[data-test=blocked]", |t| t.contains("term")).await;
    term.say("ALL", "term after the block").await;
    say(&b1, "web1 after the block").await;
    wait_text(&b2, "[data-test=messages]", |t| {
        t.contains("term after the block") && t.contains("web1 after the block")
    })
    .await;
    say(&b2, "sentinel two").await;
    let got = term.until_probe("sentinel two").await;
    assert!(!contents(&got).iter().any(|c| c.contains("web1 after the block")), "{got:?}");
    wait_text(&b1, "[data-test=messages]", |t| t.contains("sentinel two")).await;
    assert!(!messages(&b1).await.contains("term after the block"));
    screenshot(&b1, "03-blocked").await;

    // the server restarts: the browsers reconnect and log in again by themselves
    let native_port = server.addr.port();
    drop(term);
    server.stop().await;
    wait_text(&b2, "[data-test=status]", |t| t.contains("Offline") || t.contains("Connecting"))
        .await;
    let mut config = dirs.config();
    config.port = native_port;
    config.web_port = Some(web.port());
    let server = TestServer::start(config).await;
    wait_text(&b2, "[data-test=status]", |t| t.contains("Connected as web2")).await;
    wait_text(&b1, "[data-test=status]", |t| t.contains("Connected as web1")).await;
    let mut term = server.user("term").await;
    term.say("ALL", "after the restart").await;
    wait_text(&b2, "[data-test=messages]", |t| t.contains("term: after the restart")).await;
    screenshot(&b2, "04-after-restart").await;

    let _ = b1.close().await;
    let _ = b2.close().await;
    server.stop().await;
}
