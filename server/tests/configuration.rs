//! The real binary's options from a configuration file, and the cluster options from the
//! environment.

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::Duration;

use shared::Frame;
use test_support::*;

const HOME: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const ELSEWHERE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// The server binary reading a configuration file of `toml` (and the directories of `dirs`,
/// from the file) with the `extra` arguments, cluster settings left out of its environment.
fn command(dirs: &Dirs, toml: &str, extra: &[&str]) -> Command {
    let path = dirs.root.path().join("chatterbox.toml");
    let file = format!(
        "data-dir = '{}'\ncerts-dir = '{}'\n{toml}",
        dirs.data().display(),
        dirs.certs().display()
    );
    std::fs::write(&path, file).expect("write the configuration file");
    let mut cmd = Command::new(bin!("chatterbox-server"));
    cmd.arg("--config").arg(&path).args(extra);
    cmd.env_remove("CHATTERBOX_CLUSTER").env_remove("CHATTERBOX_DATABASE");
    cmd
}

/// The log of a server that stopped at start-up, as it was expected to.
fn refused_start(cmd: Command) -> String {
    match BinServer::try_spawn_command(cmd) {
        Err(SpawnError::Ended { log }) => log,
        Err(e) => panic!("{e}"),
        Ok(s) => panic!("the server started: {}", s.log_text()),
    }
}

async fn login_from(s: &BinServer, dirs: &Dirs, from: IpAddr, name: &str) -> (Client, Frame) {
    let mut c = Client::over(tls_connect_from(s.addr, &dirs.ca(), from).await);
    let r = c.login(name).await;
    (c, r)
}

#[tokio::test]
async fn the_server_takes_its_options_from_the_file() {
    let dirs = Dirs::new();
    let port = free_port();
    let toml = format!("host = '127.0.0.1'\nport = {port}\nweb-port = 0\nreserve-minutes = 0\n");
    // the command line wins: the file's history of 1000 would replay both messages
    let s = BinServer::spawn_command(command(&dirs, &toml, &["--history", "1"]));
    assert_eq!(s.addr.port(), port, "the port is the file's");
    s.wait_for_log("reading options from");

    let (mut ann, r) = login_from(&s, &dirs, HOME, "ann").await;
    assert_eq!(r.username_accepted, Some(true));
    let (mut bob, r) = login_from(&s, &dirs, HOME, "bob").await;
    assert_eq!(r.username_accepted, Some(true));
    ann.say("ALL", "one").await;
    ann.say("ALL", "two").await;
    bob.recv_message("two").await;
    let (_carol, r) = login_from(&s, &dirs, HOME, "carol").await;
    assert_eq!(r.messages.map(|h| h.len()), Some(1), "--history 1 on the command line");
    drop(ann);
    bob.recv_where(|f| f.users_left.as_ref().is_some_and(|l| l.contains(&"ann".to_owned()))).await;
    // reserve-minutes = 0: another address may take the name as soon as it is free
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let (_c, r) = login_from(&s, &dirs, ELSEWHERE, "ann").await;
        if r.username_accepted == Some(true) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "ann stays refused: {:?}", r.info);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn an_unknown_key_stops_the_server_with_its_name() {
    let dirs = Dirs::new();
    let log = refused_start(command(&dirs, "port = 0\nreserve-minuets = 0\n", &[]));
    assert!(log.contains("unknown field `reserve-minuets`"), "{log}");
}

#[test]
fn cluster_settings_come_from_the_environment_in_pairs_and_keep_their_password() {
    let dirs = Dirs::new();
    let toml = "host = '127.0.0.1'\nport = 0\nweb-port = 0\n";
    let mut alone = command(&dirs, toml, &[]);
    alone.env("CHATTERBOX_CLUSTER", "nats://127.0.0.1:4222");
    let log = refused_start(alone);
    assert!(log.contains("--cluster and --database go together"), "{log}");

    // Both, but a database that refuses: the server says which, without the password.
    let mut both = command(&dirs, toml, &[]);
    both.env("CHATTERBOX_CLUSTER", "nats://127.0.0.1:4222")
        .env("CHATTERBOX_DATABASE", "postgres://chat:s3cret@127.0.0.1:1/chat");
    let log = refused_start(both);
    assert!(log.contains("cluster mode"), "{log}");
    assert!(
        log.contains(
            "the cluster's database at postgres://chat:***@127.0.0.1:1/chat cannot be used"
        ),
        "{log}"
    );
    assert!(!log.contains("s3cret"), "{log}");
}
