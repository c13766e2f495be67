//! The terminal client's accounts and moderation against the real server (plain mode): a name
//! registered with /register needs its password from then on, its owner gets the private
//! history back, a second login of the owner takes over and the first client stops instead
//! of taking the name back, and an operator's kick ends the kicked client. Passwords come
//! from the environment, never the command line.

use test_support::*;

const PASSWORD: &str = "correct horse battery";
const PASSWORD_VAR: &str = "CHATTERBOX_PASSWORD";

async fn start(dirs: &Dirs, operators: &[&str]) -> (TestServer, CliLauncher) {
    let mut config = dirs.config();
    config.operators = operators.iter().map(|o| (*o).to_owned()).collect();
    let server = TestServer::start(config).await;
    let clients = CliLauncher::new(bin!("chatterbox"), &server);
    (server, clients)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_name_takes_its_password_and_its_owner_takes_over_and_moderates() {
    let dirs = Dirs::new();
    let (server, clients) = start(&dirs, &[]).await;
    let env = [(PASSWORD_VAR, PASSWORD)];

    // ann registers her name; bob writes to her privately.
    let mut ann = clients.client_with(Some("ann"), &[], &env);
    ann.expect("Welcome! You are ann.");
    ann.expect("ann is not registered");
    ann.send("/register");
    ann.expect("ann is registered now");
    let mut bob = clients.client(Some("bob"));
    bob.send("@ann for ann only");
    ann.expect("<bob -> ann> for ann only");
    ann.send("/quit");
    assert_eq!(ann.wait(), 0);

    // Without the password the name is refused, and nothing of hers is shown.
    let mut eve = clients.client_raw(Some("ann"));
    eve.expect("username refused: The name ann is registered.");
    assert_eq!(eve.wait(), 2);
    assert!(!eve.saw("for ann only"), "{}", eve.seen_text());
    let mut wrong =
        clients.client_with(Some("ann"), &["--password"], &[(PASSWORD_VAR, "wrong horse")]);
    wrong.expect("login refused: Wrong password for ann.");
    assert_eq!(wrong.wait(), 2);

    // With it, her private history comes back.
    let mut ann = clients.client_with(Some("ann"), &["--password"], &env);
    ann.expect("Welcome! You are ann.");
    ann.expect("<bob -> ann> for ann only");
    ann.expect("ann is your registered name.");
    // A second login of hers takes over; the first client stops rather than take it back.
    let mut again = clients.client_with(Some("ann"), &["--password"], &env);
    again.expect("Welcome! You are ann.");
    ann.expect("ann logged in on another connection, which took over; this one is closed. Not reconnecting.");
    assert_eq!(ann.wait(), 1);
    bob.send("@ann still there?");
    again.expect("<bob -> ann> still there?");
    again.send("/quit");
    assert_eq!(again.wait(), 0);
    drop(bob);
    server.stop().await;

    // As an operator, she kicks bob, whose client says why and does not come back by itself.
    let (server, clients) = start(&dirs, &["ann"]).await;
    let mut ann = clients.client_with(Some("ann"), &["--password"], &env);
    ann.expect("You are an operator");
    let mut bob = clients.client(Some("bob"));
    ann.expect("bob joined");
    bob.send("/kick ann no");
    bob.expect("Only operators can kick, ban or mute.");
    ann.send("/kick bob enough");
    bob.expect("You were removed by ann: enough Not reconnecting.");
    assert_eq!(bob.wait(), 1);
    ann.expect("bob was removed by ann: enough");
    ann.send("/quit");
    assert_eq!(ann.wait(), 0);
    assert!(!ann.seen_text().contains(PASSWORD), "the password is never shown");
    server.stop().await;
}
