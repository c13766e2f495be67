//! The browser client in real headless Chromium (driven through chromedriver), with a native
//! client in the same chat. Needs the web client built into the server (`trunk build
//! --release` before compiling) and chromium with chromedriver installed: `cargo xtask test`
//! does both and runs these with `--include-ignored`. Screenshots go to
//! `target/browser-screenshots/`.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::key::Key;
use fantoccini::{Client as Browser, ClientBuilder, Locator};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};
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
        // chromedriver and the browsers it started share a process group of their own: all
        // of them go, not chromedriver alone (its browsers would outlive every test run).
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn chromedriver() -> Driver {
    let port = free_port();
    let child =
        Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
            .arg(format!("--port={port}"))
            .process_group(0)
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

/// Waits until what `script` returns satisfies `ok`; returns it.
async fn wait_js(b: &Browser, script: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let value = b.execute(script, vec![]).await.expect("script");
        if ok(&value) {
            return value;
        }
        assert!(Instant::now() < deadline, "never as expected: {script}\nlast: {value}");
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until the element's text satisfies `ok`; returns the text.
async fn wait_text(b: &Browser, css: &str, ok: impl Fn(&str) -> bool) -> String {
    let script =
        format!("const e = document.querySelector({}); return e ? e.innerText : null;", json!(css));
    let text = wait_js(b, &script, |v| v.as_str().is_some_and(&ok)).await;
    text.as_str().unwrap_or_default().to_owned()
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

/// What every test here starts with: a server with the web client built in, and chromedriver.
struct Setup {
    dirs: Dirs,
    server: TestServer,
    /// The web gateway's address.
    web: SocketAddr,
    /// The pin of the server's certificate, for the browsers.
    pin: String,
    driver: Driver,
}

async fn setup() -> Setup {
    assert!(
        chatterbox_server::http::web_client_built(),
        "the server was compiled without the web client: run `trunk build --release` first"
    );
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let web = server.web.expect("gateway");
    let pin = spki_pin(&dirs.certs().join("server.pem"));
    let driver = chromedriver().await;
    Setup { dirs, server, web, pin, driver }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the web client built in and chromium; cargo xtask test runs it"]
async fn two_browsers_and_a_terminal_user_chat_block_and_survive_a_restart() {
    let Setup { dirs, server, web, pin, driver } = setup().await;
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

    // A stream of messages the restart cuts into (the browsers may have shown any part of it):
    // once they are back, each shows once and none is missing.
    let mut witness = server.user("witness").await;
    for i in 0..30 {
        term.say("ALL", &format!("stream {i:02} end")).await;
    }
    witness.recv_message("stream 29 end").await;
    drop(witness);

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
    // Logged in again after the last message shown (resume): nothing from before shows twice.
    let shown = messages(&b2).await;
    let stream: Vec<String> = (0..30).map(|i| format!("stream {i:02} end")).collect();
    for text in ["sentinel two", "term: after the restart"]
        .into_iter()
        .chain(stream.iter().map(String::as_str))
    {
        assert_eq!(shown.matches(text).count(), 1, "{text:?} once in:\n{shown}");
    }
    screenshot(&b2, "04-after-restart").await;

    let _ = b1.close().await;
    let _ = b2.close().await;
    server.stop().await;
}

/// The "new messages" markers, each as the text of the row it stands above, and the jump
/// button's text.
const MARKERS: &str = "return { markers: [...document.querySelectorAll('.new-marker')]
        .map(m => m.nextElementSibling ? m.nextElementSibling.innerText : ''),
    jump: document.querySelector('[data-test=jump]')?.innerText ?? null };";

/// Scrolls the conversation to the top (`up`) or the bottom, as the user would.
async fn scroll(b: &Browser, up: bool) {
    let script = format!(
        "const p = document.querySelector('[data-test=messages]');
         p.scrollTop = {}; p.dispatchEvent(new Event('scroll'));
         return p.scrollHeight - p.clientHeight;",
        if up { "0" } else { "p.scrollHeight" }
    );
    let overflow = b.execute(&script, vec![]).await.expect("scroll");
    assert!(overflow.as_i64().is_some_and(|o| o > 100), "the conversation overflows: {overflow}");
}

/// The tabs, each as [its container's role, id, aria-selected, tabIndex, role of the element
/// it controls, what labels that element].
const TABS: &str = "return [...document.querySelectorAll('[role=tab]')].map(t => {
        const panel = document.getElementById(t.getAttribute('aria-controls'));
        return [t.parentElement.getAttribute('role'), t.id, t.getAttribute('aria-selected'),
            t.tabIndex, panel?.getAttribute('role'), panel?.getAttribute('aria-labelledby')];
    });";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the web client built in and chromium; cargo xtask test runs it"]
async fn the_page_marks_new_messages_once_and_describes_itself_to_the_browser() {
    let Setup { dirs: _dirs, server, web, pin, driver } = setup().await;
    let b = browser(&driver, &pin, "one").await;
    login(&b, web, "ann").await;
    wait_text(&b, "[data-test=status]", |t| t.contains("Connected as ann")).await;
    let mut term = server.user("term").await;

    // the page's icon loads as an image, under the page's Content-Security-Policy
    let icon = b
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const link = document.querySelector('link[rel~=icon]');
             if (!link) { done('no icon link'); return; }
             const img = new Image();
             img.onload = () => done('loaded');
             img.onerror = () => done('not loaded: ' + link.href);
             img.src = link.href;",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(icon, json!("loaded"));

    // a message's time is machine-readable: the same instant as the message's timestamp
    let sent = term.say("ALL", "what time is it").await;
    wait_text(&b, "[data-test=messages]", |t| t.contains("term: what time is it")).await;
    let stamp = b
        .execute(
            "const rows = [...document.querySelectorAll('[data-test=message]')];
             const t = rows[rows.length - 1].querySelector('time');
             return [t.getAttribute('datetime'), Date.parse(t.getAttribute('datetime')) / 1000];",
            vec![],
        )
        .await
        .expect("script");
    let iso = stamp[0].as_str().unwrap_or_default();
    assert!(iso.len() >= 20 && iso.as_bytes()[10] == b'T' && iso.ends_with('Z'), "{stamp}");
    assert_eq!(stamp[1].as_f64(), Some(sent.timestamp as f64), "{stamp}");

    // a new message adds one row and leaves the others as they are
    b.execute(
        "window.firstRow = document.querySelector('[data-test=message]');
         window.added = 0;
         new MutationObserver(ms => ms.forEach(m => window.added +=
             [...m.addedNodes].filter(n => n.nodeType === 1).length))
           .observe(document.querySelector('[data-test=messages]'), { childList: true });",
        vec![],
    )
    .await
    .expect("script");
    term.say("ALL", "one row").await;
    wait_text(&b, "[data-test=messages]", |t| t.contains("term: one row")).await;
    assert_eq!(b.execute("return window.added;", vec![]).await.expect("script"), json!(1));

    // the tabs: a tablist of tabs controlling a tabpanel labelled by the selected one
    let tab = |id: &str, selected: bool, labelled_by: &str| {
        json!([
            "tablist",
            id,
            selected.to_string(),
            if selected { 0 } else { -1 },
            "tabpanel",
            labelled_by
        ])
    };
    let tabs = b.execute(TABS, vec![]).await.expect("script");
    assert_eq!(
        tabs,
        json!([tab("tab-online", true, "tab-online"), tab("tab-everyone", false, "tab-online")])
    );
    b.find(Locator::Id("tab-everyone")).await.expect("tab").click().await.expect("click");
    let want = json!([
        tab("tab-online", false, "tab-everyone"),
        tab("tab-everyone", true, "tab-everyone")
    ]);
    wait_js(&b, TABS, |v| *v == want).await;
    wait_text(&b, "[data-test=tabpanel]", |t| t.contains("ann") && t.contains("term")).await;
    let kept = b
        .execute(
            "return window.firstRow === document.querySelector('[data-test=message]');",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(kept, json!(true), "a tab click re-renders the panel, not the conversation");
    // the arrow keys move between the tabs
    let everyone = b.find(Locator::Id("tab-everyone")).await.expect("tab");
    everyone.send_keys(&Key::Left.to_string()).await.expect("arrow key");
    let want =
        json!([tab("tab-online", true, "tab-online"), tab("tab-everyone", false, "tab-online")]);
    wait_js(&b, TABS, |v| *v == want).await;
    let focused = b.execute("return document.activeElement.id;", vec![]).await.expect("script");
    assert_eq!(focused, json!("tab-online"));

    // picking a name addresses the composer, keeping what is typed, and focuses it
    let composer = b.find(Locator::Css("[data-test=composer]")).await.expect("composer");
    composer.send_keys("see you").await.expect("type");
    let names = b.find_all(Locator::Css("[data-test=user]")).await.expect("users");
    let mut picked = false;
    for name in names {
        if name.text().await.unwrap_or_default() == "term" {
            name.click().await.expect("pick term");
            picked = true;
        }
    }
    assert!(picked, "term in the list");
    let value = composer.prop("value").await.expect("value");
    assert_eq!(value.as_deref(), Some("@term see you"));
    let focused = b.execute("return document.activeElement.id;", vec![]).await.expect("script");
    assert_eq!(focused, json!("composer-input"));
    b.active_element().await.expect("focus").send_keys("\n").await.expect("send");
    let private = term.recv_message("see you").await;
    assert_eq!((private.src.as_str(), private.dest.as_str()), ("ann", "term"));

    // scrolled up, new messages get one marker above the first of them
    b.set_window_size(1000, 460).await.expect("resize");
    for i in 0..20 {
        term.say("ALL", &format!("filler {i}")).await;
    }
    wait_text(&b, "[data-test=messages]", |t| t.contains("filler 19")).await;
    scroll(&b, true).await;
    term.say("ALL", "away one").await;
    term.say("ALL", "away two").await;
    let seen = wait_js(&b, MARKERS, |v| v["jump"] == json!("↓ 2 new")).await;
    assert_eq!(seen["markers"].as_array().map(Vec::len), Some(1), "{seen}");
    assert!(seen["markers"][0].as_str().is_some_and(|t| t.ends_with("term: away one")), "{seen}");
    screenshot(&b, "05-new-messages").await;
    // the jump button shows the newest: the marker goes
    b.find(Locator::Css("[data-test=jump]")).await.expect("jump").click().await.expect("click");
    wait_js(&b, MARKERS, |v| *v == json!({ "markers": [], "jump": null })).await;
    // scrolled up again: one marker, above the first new message only
    scroll(&b, true).await;
    term.say("ALL", "away three").await;
    let seen = wait_js(&b, MARKERS, |v| v["jump"] == json!("↓ 1 new")).await;
    assert_eq!(seen["markers"].as_array().map(Vec::len), Some(1), "{seen}");
    assert!(seen["markers"][0].as_str().is_some_and(|t| t.ends_with("term: away three")), "{seen}");
    // scrolling down to the newest removes it too
    scroll(&b, false).await;
    wait_js(&b, MARKERS, |v| *v == json!({ "markers": [], "jump": null })).await;

    let _ = b.close().await;
    server.stop().await;
}

/// Fills in the login form: a name, a password (may be empty), and "register this name".
async fn sign_in(b: &Browser, name: &str, password: &str, register: bool) {
    type_field(b, "username", name).await;
    type_field(b, "password", password).await;
    let register_box = b.find(Locator::Id("register")).await.expect("register box");
    if register_box.is_selected().await.expect("checked?") != register {
        register_box.click().await.expect("tick");
    }
    b.find(Locator::Css(".login button[type=submit]"))
        .await
        .expect("join button")
        .click()
        .await
        .expect("join");
}

async fn type_field(b: &Browser, id: &str, text: &str) {
    let input = b.wait().at_most(PATIENCE).for_element(Locator::Id(id)).await.expect("a field");
    input.clear().await.expect("clear");
    input.send_keys(text).await.expect("type");
}

/// What the page keeps in the browser's storage, every key and value.
const STORED: &str = "const out = {}; for (let i = 0; i < localStorage.length; i++) {
        const k = localStorage.key(i); out[k] = localStorage.getItem(k); } return out;";

/// Waits until the signed-in bar's attribute `attr` is `value`.
async fn wait_account(b: &Browser, attr: &str, value: &str) {
    let script = format!(
        "return document.querySelector('[data-test=account]')?.getAttribute('{attr}') ?? null;"
    );
    wait_js(b, &script, |v| v == &json!(value)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the web client built in and chromium; cargo xtask test runs it"]
async fn a_registered_name_resumes_after_a_reload_logs_out_and_as_operator_bans() {
    assert!(chatterbox_server::http::web_client_built(), "run `trunk build --release` first");
    let dirs = Dirs::new();
    // opal registers (from a native client), then the server starts with opal as operator.
    let server = TestServer::start(dirs.config()).await;
    let mut opal = server.client().await;
    opal.send(&shared::Frame {
        username: Some("opal".into()),
        features: Some(vec!["account".into()]),
        ..shared::Frame::default()
    })
    .await;
    opal.recv_where(|f| f.username_accepted == Some(true)).await;
    opal.send(&shared::Frame { register: Some("operator pass".into()), ..Default::default() })
        .await;
    opal.recv_where(|f| f.registered == Some(true)).await;
    drop(opal);
    server.stop().await;
    let mut config = dirs.config();
    config.operators = vec!["opal".into()];
    let server = TestServer::start(config).await;
    let web = server.web.expect("gateway");
    let pin = spki_pin(&dirs.certs().join("server.pem"));
    let driver = chromedriver().await;
    let b1 = browser(&driver, &pin, "ann").await;
    let mut term = server.user("term").await;

    // ann registers her name from the login form.
    b1.goto(&format!("https://localhost:{}/", web.port())).await.expect("open the page");
    sign_in(&b1, "ann", "short", true).await;
    wait_text(&b1, "[data-test=login-error]", |t| t.contains("at least 8")).await;
    sign_in(&b1, "ann", "correct horse", true).await;
    wait_text(&b1, "[data-test=me]", |t| t.contains("Signed in as ann")).await;
    wait_account(&b1, "data-registered", "true").await;
    let stored = wait_js(&b1, STORED, |v| v.get("chatterbox.token").is_some()).await;
    assert_eq!(stored["chatterbox.name"], json!("ann"));
    assert!(stored["chatterbox.token"].as_str().is_some_and(|t| t.len() >= 22), "{stored}");
    assert!(!stored.to_string().contains("correct horse"), "no password kept: {stored}");
    assert_eq!(
        b1.find_all(Locator::Css("[data-test=moderate]")).await.expect("query").len(),
        0,
        "no operator actions for a user who is not one"
    );
    screenshot(&b1, "06-registered").await;

    // A reload logs straight back in, private history included.
    term.say("ann", "psst ann").await;
    wait_text(&b1, "[data-test=messages]", |t| t.contains("psst ann")).await;
    b1.refresh().await.expect("reload");
    wait_text(&b1, "[data-test=status]", |t| t.contains("Connected as ann")).await;
    wait_text(&b1, "[data-test=messages]", |t| t.contains("term → you (private): psst ann")).await;
    wait_account(&b1, "data-registered", "true").await;
    // Nobody else takes the name meanwhile, not even from the same address without proof.
    let mut thief = server.client().await;
    let r = thief.login("ann").await;
    assert_eq!(r.username_accepted, Some(false), "{r:?}");

    // A new password from the account settings; the page keeps the new session token.
    let before = b1.execute(STORED, vec![]).await.expect("storage")["chatterbox.token"].clone();
    b1.find(Locator::Css("[data-test=account-settings] summary"))
        .await
        .expect("account settings")
        .click()
        .await
        .expect("open");
    type_field(&b1, "acct-current", "correct horse").await;
    type_field(&b1, "acct-new", "battery staple").await;
    type_field(&b1, "acct-again", "battery stapel").await;
    b1.find(Locator::Css("[data-test=acct-change]"))
        .await
        .expect("change")
        .click()
        .await
        .expect("click");
    wait_text(&b1, "[data-test=acct-error]", |t| t.contains("differ")).await;
    type_field(&b1, "acct-again", "battery staple").await;
    screenshot(&b1, "06b-account-settings").await;
    b1.find(Locator::Css("[data-test=acct-change]"))
        .await
        .expect("change")
        .click()
        .await
        .expect("click");
    wait_text(&b1, "[data-test=messages]", |t| t.contains("Password changed")).await;
    let after = wait_js(&b1, STORED, |v| v["chatterbox.token"] != before).await;
    assert!(after["chatterbox.token"].as_str().is_some_and(|t| t.len() >= 22), "{after}");
    assert!(!after.to_string().contains("battery"), "no password kept: {after}");

    // Log out: back to the login form, the token forgotten, a reload does not log in.
    b1.find(Locator::Css("[data-test=logout]"))
        .await
        .expect("log out")
        .click()
        .await
        .expect("click");
    b1.wait().at_most(PATIENCE).for_element(Locator::Id("password")).await.expect("login form");
    wait_js(&b1, STORED, |v| v.get("chatterbox.token").is_none()).await;
    b1.refresh().await.expect("reload");
    b1.wait().at_most(PATIENCE).for_element(Locator::Id("password")).await.expect("login form");
    wait_text(&b1, "[data-test=status]", |t| t == "Connected").await;
    screenshot(&b1, "07-logged-out").await;

    // Back in with the new password; opal, an operator, bans her.
    sign_in(&b1, "ann", "correct horse", false).await;
    wait_text(&b1, "[data-test=login-error]", |t| t.contains("Wrong password")).await;
    sign_in(&b1, "ann", "battery staple", false).await;
    wait_text(&b1, "[data-test=me]", |t| t.contains("Signed in as ann")).await;
    let b2 = browser(&driver, &pin, "opal").await;
    b2.goto(&format!("https://localhost:{}/", web.port())).await.expect("open the page");
    sign_in(&b2, "opal", "operator pass", false).await;
    wait_account(&b2, "data-operator", "true").await;
    b2.wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("[data-test=moderate][data-name=ann]"))
        .await
        .expect("a moderate button on ann's row")
        .click()
        .await
        .expect("click");
    type_field(&b2, "mod-duration", "soon").await;
    b2.find(Locator::Css("[data-test=mod-ban]")).await.expect("ban").click().await.expect("click");
    wait_text(&b2, "[data-test=mod-error]", |t| t.contains("not a duration")).await;
    type_field(&b2, "mod-duration", "1h").await;
    type_field(&b2, "mod-reason", "spam").await;
    screenshot(&b2, "08-moderate").await;
    b2.find(Locator::Css("[data-test=mod-ban]")).await.expect("ban").click().await.expect("click");

    // ann is out, told why, and the page does not log her back in by itself.
    wait_text(&b1, "[data-test=login-error]", |t| t.contains("banned by opal: spam")).await;
    wait_text(&b1, "[data-test=status]", |t| t == "Disconnected").await;
    term.recv_where(|f| f.info.as_deref() == Some("ann was banned by opal: spam")).await;
    screenshot(&b1, "09-banned").await;
    // Trying again, with the kept token or the password, she is refused.
    b1.find(Locator::Css(".login button[type=submit]"))
        .await
        .expect("join")
        .click()
        .await
        .expect("join");
    wait_text(&b1, "[data-test=login-error]", |t| t.contains("ann is banned")).await;
    sign_in(&b1, "ann", "battery staple", false).await;
    wait_text(&b1, "[data-test=login-error]", |t| t.contains("ann is banned")).await;
    assert!(b1.find_all(Locator::Css("[data-test=me]")).await.expect("query").is_empty());

    let _ = b1.close().await;
    let _ = b2.close().await;
    server.stop().await;
}

/// The room list, each button as its room (`everyone` for the main room) and unread count,
/// the one marked `aria-current` (the room shown) starred: `["*everyone:0", "#rust:2"]`.
const ROOM_LIST: &str = "return [...document.querySelectorAll('[data-test=room]')].map(b =>
        (b.getAttribute('aria-current') === 'true' ? '*' : '') + b.dataset.room + ':'
        + b.dataset.unread);";

/// Waits until the room list is `want` (see [`ROOM_LIST`]).
async fn wait_rooms(b: &Browser, want: &[&str]) {
    let want = json!(want);
    wait_js(b, ROOM_LIST, |v| *v == want).await;
}

/// Waits until the page's address has the fragment `hash` (`""`: none).
async fn wait_hash(b: &Browser, hash: &str) {
    wait_js(b, "return location.hash;", |v| v == &json!(hash)).await;
}

async fn room_button(b: &Browser, room: &str) -> fantoccini::elements::Element {
    b.find(Locator::Css(&format!("[data-test=room][data-room='{room}']")))
        .await
        .expect("the room's button")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the web client built in and chromium; cargo xtask test runs it"]
async fn rooms_are_for_their_members_count_unread_and_stay_in_the_address_over_a_reload() {
    let Setup { dirs: _dirs, server, web, pin, driver } = setup().await;
    let page = format!("https://localhost:{}/", web.port());
    let b1 = browser(&driver, &pin, "one").await;
    let b2 = browser(&driver, &pin, "two").await;
    // web1 registers its name, so that a reload logs straight back in with the kept token.
    b1.goto(&page).await.expect("open the page");
    sign_in(&b1, "web1", "correct horse", true).await;
    wait_account(&b1, "data-registered", "true").await;
    login(&b2, web, "web2").await;
    wait_text(&b2, "[data-test=status]", |t| t.contains("Connected as web2")).await;
    wait_rooms(&b1, &["*everyone:0"]).await;
    wait_hash(&b1, "").await;

    // web1 joins #rust from the room list's field: shown, with its head, named in the address.
    let field = b1.find(Locator::Css("[data-test=join-room]")).await.expect("the join field");
    field.send_keys("#rust\n").await.expect("type a room");
    wait_rooms(&b1, &["everyone:0", "*#rust:0"]).await;
    wait_text(&b1, "[data-test=room-head]", |t| t.contains("#rust")).await;
    wait_hash(&b1, "#rust").await;
    say(&b1, "only for rust").await;
    wait_text(&b1, "[data-test=messages]", |t| t.contains("web1: only for rust")).await;
    screenshot(&b1, "10-room").await;

    // web2 is not in #rust: a later message to the main room arrives, the room's never does.
    room_button(&b1, "everyone").await.click().await.expect("to the main room");
    wait_rooms(&b1, &["*everyone:0", "#rust:0"]).await;
    wait_hash(&b1, "").await;
    assert!(!messages(&b1).await.contains("only for rust"), "the main room shows no room's");
    say(&b1, "probe after the room").await;
    wait_text(&b2, "[data-test=messages]", |t| t.contains("web1: probe after the room")).await;
    assert!(!messages(&b2).await.contains("only for rust"));
    wait_rooms(&b2, &["*everyone:0"]).await;

    // web2 joins with the terminal's command, and sees the room's history, and only the room.
    say(&b2, "/join #rust").await;
    wait_rooms(&b2, &["everyone:0", "*#rust:0"]).await;
    wait_text(&b2, "[data-test=messages]", |t| t.contains("web1: only for rust")).await;
    assert!(!messages(&b2).await.contains("probe after the room"));
    wait_hash(&b2, "#rust").await;

    // web2 writes there while web1 looks at the main room: #rust counts it as unread.
    say(&b2, "hello rust").await;
    wait_rooms(&b1, &["*everyone:0", "#rust:1"]).await;
    assert!(!messages(&b1).await.contains("hello rust"));
    screenshot(&b1, "11-room-unread").await;
    // by keyboard: Enter on the room's button shows it, read
    room_button(&b1, "#rust").await.send_keys(&Key::Enter.to_string()).await.expect("Enter");
    wait_rooms(&b1, &["everyone:0", "*#rust:0"]).await;
    wait_text(&b1, "[data-test=messages]", |t| {
        t.contains("web1: only for rust") && t.contains("web2: hello rust")
    })
    .await;
    wait_hash(&b1, "#rust").await;
    // and the main room counts what came while web1 was in #rust
    room_button(&b2, "everyone").await.click().await.expect("to the main room");
    say(&b2, "meanwhile in the main room").await;
    wait_rooms(&b1, &["everyone:1", "*#rust:0"]).await;

    // A reload keeps web1 in the room of the address (logged straight back in with its token).
    b1.refresh().await.expect("reload");
    wait_text(&b1, "[data-test=status]", |t| t.contains("Connected as web1")).await;
    wait_rooms(&b1, &["everyone:0", "*#rust:0"]).await;
    wait_text(&b1, "[data-test=messages]", |t| t.contains("web2: hello rust")).await;
    assert!(!messages(&b1).await.contains("meanwhile in the main room"));
    wait_hash(&b1, "#rust").await;
    screenshot(&b1, "12-room-after-reload").await;

    // An address naming a room web2 is not in joins it; /part leaves it, back to the main room.
    b2.execute("location.hash = '#go';", vec![]).await.expect("script");
    wait_rooms(&b2, &["everyone:0", "*#go:0", "#rust:0"]).await;
    say(&b2, "/part").await;
    wait_rooms(&b2, &["*everyone:0", "#rust:0"]).await;
    wait_hash(&b2, "").await;

    let _ = b1.close().await;
    let _ = b2.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the web client built in and chromium; cargo xtask test runs it"]
async fn edits_deletes_and_search_in_the_browser_reach_other_clients() {
    use shared::frame::Change;
    let Setup { dirs: _dirs, server, web, pin, driver } = setup().await;
    let b = browser(&driver, &pin, "one").await;
    login(&b, web, "web1").await;
    wait_text(&b, "[data-test=status]", |t| t.contains("Connected as web1")).await;
    let mut bob = server.client().await;
    assert_eq!(bob.login_with("bob", Some(&["edit", "rooms"])).await.username_accepted, Some(true));

    // A message, then its edit from the Edit button: bob gets the change, the page shows the
    // new text in place, marked.
    say(&b, "teh garden plan").await;
    let id = bob.recv_message("teh garden plan").await.id.expect("an id");
    wait_js(&b, "return document.querySelectorAll('[data-test=edit]').length;", |v| v == &json!(1))
        .await;
    b.find(Locator::Css("[data-test=edit]")).await.expect("Edit").click().await.expect("click");
    wait_text(&b, "[data-test=editing]", |t| t.contains("Editing")).await;
    let input = b.find(Locator::Css("[data-test=composer]")).await.expect("composer");
    input.clear().await.expect("clear");
    input.send_keys("the garden plan\n").await.expect("type the new text");
    let edit = loop {
        let m = bob.next_message().await;
        if m.change.is_some() {
            break m;
        }
    };
    assert_eq!((edit.content.as_str(), edit.change), ("the garden plan", Some(Change::Edit(id))));
    wait_text(&b, "[data-test=messages]", |t| t.contains("the garden plan (edited)")).await;
    assert!(!messages(&b).await.contains("teh garden"));

    // A delete: bob gets it, the page shows the marker.
    say(&b, "a regrettable remark").await;
    let regret = bob.recv_message("a regrettable remark").await.id.expect("an id");
    let delete = format!(
        "const e = document.querySelector('[data-message-id=\"{regret}\"] [data-test=delete]'); \
         if (e) {{ e.click(); return true; }} return false;"
    );
    wait_js(&b, &delete, |v| v == &json!(true)).await;
    let gone = loop {
        let m = bob.next_message().await;
        if m.change.is_some() {
            break m;
        }
    };
    assert_eq!(gone.change, Some(Change::Delete(regret)));
    wait_text(&b, "[data-test=messages]", |t| t.contains("(message deleted)")).await;

    // Search: in a room of bob's and the main room; a result jumps to its room, marked.
    bob.send(&shared::Frame { join: Some("#garden".into()), ..Default::default() }).await;
    bob.recv_where(|f| f.joined.is_some()).await;
    say(&b, "/join #garden").await;
    wait_rooms(&b, &["everyone:0", "*#garden:0"]).await;
    bob.say("#garden", "plant the garden tulips").await;
    wait_text(&b, "[data-test=messages]", |t| t.contains("plant the garden tulips")).await;
    room_button(&b, "everyone").await.click().await.expect("to the main room");
    let field = b.find(Locator::Css("[data-test=search]")).await.expect("the search field");
    field.send_keys("garden\n").await.expect("search");
    let results = wait_text(&b, "[data-test=results]", |t| t.contains("2 results")).await;
    assert!(results.contains("plant the garden tulips") && results.contains("the garden plan"));
    assert!(!results.contains("regrettable"), "a deleted message is never found");
    screenshot(&b, "20-search").await;
    b.find(Locator::Css("[data-test=hit]"))
        .await
        .expect("the newest result")
        .click()
        .await
        .expect("jump");
    wait_rooms(&b, &["everyone:0", "*#garden:0"]).await;
    wait_js(&b, "return document.querySelectorAll('.msg.highlight').length;", |v| v == &json!(1))
        .await;
    wait_text(&b, ".msg.highlight", |t| t.contains("plant the garden tulips")).await;
    server.stop().await;
}

/// The SHA-256 of the bytes at `href` as the page fetches them (with its own cookie), in hex.
async fn page_sha256(b: &Browser, href: &str) -> String {
    let script = "const [href, done] = arguments; \
        fetch(href).then(r => r.arrayBuffer()).then(buf => crypto.subtle.digest('SHA-256', buf)) \
        .then(d => done(Array.from(new Uint8Array(d)).map(x => x.toString(16).padStart(2, '0')).join(''))) \
        .catch(e => done('failed: ' + e));";
    let v = b.execute_async(script, vec![json!(href)]).await.expect("fetch in the page");
    v.as_str().unwrap_or_default().to_owned()
}

fn hex_sha256(bytes: &[u8]) -> String {
    chatterbox_server::files::Sha256::of(bytes).as_str().to_owned()
}

/// An attribute of the first element matching `css`, once there is one.
async fn wait_attr(b: &Browser, css: &str, attr: &str) -> String {
    let script = format!(
        "const e = document.querySelector({}); return e ? e.getAttribute({}) : null;",
        json!(css),
        json!(attr)
    );
    let v = wait_js(b, &script, |v| v.as_str().is_some()).await;
    v.as_str().unwrap_or_default().to_owned()
}

/// Sends `data` as the file `name` to `to` from a terminal user, all pieces at once; panics
/// unless it is posted.
async fn native_send(c: &mut Client, name: &str, data: &[u8], to: &str) {
    use base64::Engine;
    let sha = hex_sha256(data);
    let upload = shared::frame::Upload {
        name: name.into(),
        size: data.len() as u64,
        sha256: sha.clone(),
        to: to.into(),
    };
    c.send(&shared::Frame { upload: Some(upload), ..Default::default() }).await;
    c.recv_where(|f| f.uploading.is_some()).await;
    for (i, piece) in data.chunks(shared::limits::FILE_CHUNK).enumerate() {
        let chunk = shared::frame::Chunk {
            sha256: sha.clone(),
            offset: (i * shared::limits::FILE_CHUNK) as u64,
            data: base64::engine::general_purpose::STANDARD.encode(piece),
        };
        c.send(&shared::Frame { chunk: Some(chunk), ..Default::default() }).await;
    }
    let done = c.recv_where(|f| f.uploaded.is_some() || f.error.is_some()).await;
    assert!(done.uploaded.is_some(), "{:?}", done.error);
}

/// The whole file of message `id`, as a terminal user fetches it.
async fn native_fetch(c: &mut Client, id: i64) -> Vec<u8> {
    use base64::Engine;
    let mut got = Vec::new();
    loop {
        let fetch = shared::frame::Fetch { id, offset: got.len() as u64 };
        c.send(&shared::Frame { fetch: Some(fetch), ..Default::default() }).await;
        let d = c.recv_where(|f| f.file_data.is_some()).await.file_data.expect("data");
        got.extend(base64::engine::general_purpose::STANDARD.decode(d.data).expect("base64"));
        if got.len() as u64 >= d.size {
            return got;
        }
    }
}

/// The next live message that shares a file.
async fn next_file(c: &mut Client) -> shared::Message {
    loop {
        let m = c.next_message().await;
        if m.file.is_some() {
            return m;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the web client built in and chromium; cargo xtask test runs it"]
async fn a_picture_from_the_browser_shows_as_a_thumbnail_and_files_go_both_ways() {
    let Setup { dirs, server, web, pin, driver } = setup().await;
    let ann = browser(&driver, &pin, "ann").await;
    login(&ann, web, "ann").await;
    wait_text(&ann, "[data-test=status]", |t| t.contains("Connected as ann")).await;
    let bob = browser(&driver, &pin, "bob").await;
    login(&bob, web, "bob").await;
    wait_text(&bob, "[data-test=status]", |t| t.contains("Connected as bob")).await;
    let mut cy = server.client().await;
    assert_eq!(cy.login_with("cy", Some(&["files"])).await.username_accepted, Some(true));

    // ann attaches a picture: bob's page shows its thumbnail, and opens the original.
    let img = image::RgbImage::from_fn(800, 600, |x, y| image::Rgb([x as u8, y as u8, 90]));
    let mut picture = std::io::Cursor::new(Vec::new());
    img.write_to(&mut picture, image::ImageFormat::Png).expect("png");
    let picture = picture.into_inner();
    let path = dirs.root.path().join("garden.png");
    std::fs::write(&path, &picture).expect("write");
    let attach = ann
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("[data-test=attach]"))
        .await
        .expect("the Attach button");
    attach.send_keys(&path.display().to_string()).await.expect("pick the file");
    let loaded = "const i = document.querySelector('img[data-test=thumb]'); \
                  return i && i.complete ? [i.naturalWidth, i.naturalHeight] : null;";
    let size = wait_js(&bob, loaded, |v| v.as_array().is_some_and(|a| a[0] != json!(0))).await;
    assert_eq!(size, json!([320, 240]), "the thumbnail, made by the server");
    screenshot(&bob, "30-picture").await;
    let original = wait_attr(&bob, "a[data-test=original]", "href").await;
    assert_eq!(page_sha256(&bob, &original).await, hex_sha256(&picture));
    wait_js(&ann, "return document.querySelectorAll('[data-test=upload]').length;", |v| {
        v == &json!(0)
    })
    .await;
    // The terminal user gets it too, byte-identical.
    let m = next_file(&mut cy).await;
    assert!(m.content.starts_with("ann shared garden.png ("), "{}", m.content);
    assert!(native_fetch(&mut cy, m.id.expect("id")).await == picture);

    // The terminal user sends bob a document privately: bob's page offers it to download,
    // byte-identical; ann's page never shows it.
    let doc: Vec<u8> =
        (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 9) as u8).collect();
    let sha = hex_sha256(&doc);
    native_send(&mut cy, "plan.bin", &doc, "bob").await;
    let download = wait_attr(&bob, "a[data-test=download]", "href").await;
    assert_eq!(wait_attr(&bob, "a[data-test=download]", "download").await, "plan.bin");
    assert_eq!(page_sha256(&bob, &download).await, sha);
    cy.say("ALL", "probe after the plan").await;
    wait_text(&ann, "[data-test=messages]", |t| t.contains("probe after the plan")).await;
    assert!(!messages(&ann).await.contains("plan.bin"), "a private file stays private");
    // ann's page cannot fetch it even knowing where bob's is.
    let theirs = page_sha256(&ann, &download).await;
    assert_ne!(theirs, sha, "another page's address opens nothing");

    // In a room: bob's page attaches a file in #team, which ann is in and cy is not.
    say(&ann, "/join #team").await;
    wait_text(&ann, "[data-test=messages]", |t| t.contains("You are in #team")).await;
    say(&bob, "/join #team").await;
    wait_text(&ann, "[data-test=messages]", |t| t.contains("bob joined #team")).await;
    let notes = dirs.root.path().join("notes.txt");
    let text = "minutes of the garden meeting\n".repeat(2000);
    std::fs::write(&notes, &text).expect("write");
    let attach = bob.find(Locator::Css("[data-test=attach]")).await.expect("Attach");
    attach.send_keys(&notes.display().to_string()).await.expect("pick the file");
    let card = "a[data-test=download][download='notes.txt']";
    let href = wait_attr(&ann, card, "href").await;
    assert_eq!(page_sha256(&ann, &href).await, hex_sha256(text.as_bytes()));
    say(&bob, "/room").await;
    say(&bob, "probe after the room's file").await;
    cy.expect_none_before_probe("probe after the room's file", "a room's file", |f| {
        f.messages.iter().flatten().any(|m| m.content.contains("notes.txt"))
    })
    .await;

    // A terminal user in the room sends a file there: a member's page offers it.
    let mut dan = server.client().await;
    let login = dan.login_with("dan", Some(&["files", "rooms"])).await;
    assert_eq!(login.username_accepted, Some(true));
    dan.send(&shared::Frame { join: Some("#team".into()), ..Default::default() }).await;
    dan.recv_where(|f| f.joined.is_some()).await;
    let minutes = "dan's minutes\n".repeat(5000);
    native_send(&mut dan, "dan.txt", minutes.as_bytes(), "#team").await;
    let href = wait_attr(&ann, "a[data-test=download][download='dan.txt']", "href").await;
    assert_eq!(page_sha256(&ann, &href).await, hex_sha256(minutes.as_bytes()));
    // And a page sends one privately: addressed to dan in the message field, then attached.
    let private = dirs.root.path().join("for-dan.bin");
    let secret: Vec<u8> = (0..50_000u32).map(|i| (i.wrapping_mul(40_503) >> 7) as u8).collect();
    std::fs::write(&private, &secret).expect("write");
    let input = ann.find(Locator::Css("[data-test=composer]")).await.expect("composer");
    input.send_keys("@dan ").await.expect("address dan");
    let attach = ann.find(Locator::Css("[data-test=attach]")).await.expect("Attach");
    attach.send_keys(&private.display().to_string()).await.expect("pick the file");
    let m = next_file(&mut dan).await;
    assert_eq!((m.src.as_str(), m.dest.as_str()), ("ann", "dan"));
    assert!(native_fetch(&mut dan, m.id.expect("id")).await == secret, "byte-identical");
    dan.say("ALL", "probe after the private file").await;
    wait_text(&bob, "[data-test=messages]", |t| t.contains("probe after the private file")).await;
    assert!(!messages(&bob).await.contains("for-dan"), "nobody else sees it");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the web client built in and chromium; cargo xtask test runs it"]
async fn dropped_and_pasted_files_are_sent_and_a_cancelled_one_never_arrives() {
    let Setup { dirs, server, web, pin, driver } = setup().await;
    let ann = browser(&driver, &pin, "ann").await;
    login(&ann, web, "ann").await;
    wait_text(&ann, "[data-test=status]", |t| t.contains("Connected as ann")).await;
    let mut cy = server.client().await;
    assert_eq!(cy.login_with("cy", Some(&["files"])).await.username_accepted, Some(true));
    // A file dropped on the page, then one pasted into the message field (the events a
    // browser fires for them, made by script: headless Chromium has no mouse or clipboard).
    let dropped = "const dt = new DataTransfer(); \
        dt.items.add(new File(['dropped ' + 'x'.repeat(5000)], 'dropped.txt', {type: 'text/plain'})); \
        document.querySelector('main.chat').dispatchEvent( \
            new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true})); \
        return true;";
    ann.execute(dropped, vec![]).await.expect("drop");
    let m = next_file(&mut cy).await;
    assert_eq!(
        (m.src.as_str(), m.file.as_ref().map(|f| f.name.as_str())),
        ("ann", Some("dropped.txt"))
    );
    assert!(
        native_fetch(&mut cy, m.id.expect("id")).await
            == format!("dropped {}", "x".repeat(5000)).into_bytes()
    );
    let pasted = "const dt = new DataTransfer(); \
        dt.items.add(new File(['pasted text'], 'pasted.txt', {type: 'text/plain'})); \
        document.querySelector('[data-test=composer]').dispatchEvent( \
            new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true})); \
        return true;";
    ann.execute(pasted, vec![]).await.expect("paste");
    let m = next_file(&mut cy).await;
    assert_eq!(m.file.as_ref().map(|f| f.name.as_str()), Some("pasted.txt"));
    assert!(native_fetch(&mut cy, m.id.expect("id")).await == b"pasted text");

    // A large file dropped and cancelled at once (while the page still hashes it): its row
    // shows a progress bar and Cancel, goes away, and nothing arrives nor stays on the server.
    let cancel = "const done = arguments[0]; \
        const dt = new DataTransfer(); \
        dt.items.add(new File([new Uint8Array(90000000)], 'big.bin')); \
        document.querySelector('main.chat').dispatchEvent( \
            new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true})); \
        const click = () => { \
            const row = document.querySelector('[data-test=upload]'); \
            const button = row && row.querySelector('[data-test=cancel-upload]'); \
            if (!button) { setTimeout(click, 1); return; } \
            const progress = row.querySelector('progress') !== null; \
            button.click(); done(progress); \
        }; \
        click();";
    let progress = ann.execute_async(cancel, vec![]).await.expect("drop and cancel");
    assert_eq!(progress, json!(true), "the row had its progress bar");
    wait_js(&ann, "return document.querySelectorAll('[data-test=upload]').length;", |v| {
        v == &json!(0)
    })
    .await;
    // The witness: a file of the same size dropped after it, hashed and sent after it would
    // have been; the first file to arrive is this one.
    let after = "const dt = new DataTransfer(); \
        dt.items.add(new File([new Uint8Array(90000000)], 'after.bin')); \
        document.querySelector('main.chat').dispatchEvent( \
            new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true})); \
        return true;";
    ann.execute(after, vec![]).await.expect("drop the witness");
    let m = next_file(&mut cy).await;
    assert_eq!(
        m.file.as_ref().map(|f| f.name.as_str()),
        Some("after.bin"),
        "not the cancelled one"
    );
    let partial = dirs.data().join("files/partial");
    let left: Vec<_> =
        std::fs::read_dir(&partial).map(|d| d.flatten().count()).into_iter().collect();
    assert_eq!(left, vec![0], "nothing of it on the server");
    server.stop().await;
}
