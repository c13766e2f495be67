//! Plain mode against a real server: two (or three) scripted clients through login, refusal and
//! retry, broadcast, private messages, every command, blocking both ways, reconnects.

use test_support::*;

/// A server in this process and a launcher of plain-mode clients for it.
async fn start(dirs: &Dirs) -> (TestServer, CliLauncher) {
    let server = TestServer::start(dirs.config()).await;
    let clients = CliLauncher::new(bin!("chatterbox"), &server);
    (server, clients)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_name_is_explained_and_another_is_tried_on_the_same_connection() {
    let dirs = Dirs::new();
    let (server, clients) = start(&dirs).await;
    let mut ann = clients.client(Some("ann"));
    let mut other = clients.client(None);
    other.expect("Username:");
    other.send("ann");
    other.expect("username refused: The provided username is already in use.");
    // (the prompt goes to stderr, so its order against stdout lines is not fixed)
    other.send("ann2");
    other.expect("Welcome! You are ann2.");
    other.expect("online (2): ann, ann2");
    ann.expect("-- ann2 joined");
    // with --username, a refusal ends the program with status 2
    let mut dup = clients.client_raw(Some("ann"));
    dup.expect("username refused");
    assert_eq!(dup.wait(), 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_reach_everyone_and_private_messages_only_their_target() {
    let dirs = Dirs::new();
    let (server, clients) = start(&dirs).await;
    let mut ann = clients.client(Some("ann"));
    let mut bob = clients.client(Some("bob"));
    let mut cat = clients.client(Some("cat"));
    ann.send("hello everyone");
    assert!(bob.expect("hello everyone").ends_with("] <ann> hello everyone"));
    cat.expect("<ann> hello everyone");
    ann.send("@bob just for you");
    assert!(bob.expect("just for you").ends_with("<ann -> bob> just for you"));
    ann.send("after");
    cat.expect("<ann> after");
    assert!(!cat.saw("just for you"), "{}", cat.seen_text());
    // own messages are shown too, marked as private where they are
    ann.expect("<ann -> bob> just for you");
    // a private message to someone offline is an error
    ann.send("@nobody hi");
    ann.expect("!! nobody is not online");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_works_in_any_case_with_the_seed_spellings() {
    let dirs = Dirs::new();
    let (server, clients) = start(&dirs).await;
    let mut ann = clients.client(Some("ann"));
    let _bob = clients.client(Some("bob"));
    ann.expect("bob joined");
    ann.send("/help");
    ann.expect("/block name");
    ann.send("/Name");
    ann.expect("-- You are ann.");
    ann.send("/users");
    ann.expect("-- online (2): ann, bob");
    ann.send("/DisplayUsers");
    ann.expect("-- online (2): ann, bob");
    ann.send("/allusers");
    ann.expect("-- everyone ever seen (2): ann, bob");
    ann.send("/DisplayAllUsers");
    ann.expect("-- everyone ever seen (2): ann, bob");
    ann.send("/blocked");
    ann.expect("-- blocked (0): (none)");
    ann.send("/Block bob");
    ann.expect("-- now blocked (1): bob");
    ann.send("/UnBlock bob");
    ann.expect("-- now blocked (0): (none)");
    ann.send("/block");
    ann.expect("Usage: /block name");
    ann.send("/dance");
    ann.expect("Unknown command /dance; type /help");
    ann.send("/QUIT");
    assert_eq!(ann.wait(), 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_works_both_ways_and_in_join_history() {
    let dirs = Dirs::new();
    let (server, clients) = start(&dirs).await;
    let mut ann = clients.client(Some("ann"));
    let mut bob = clients.client(Some("bob"));
    let mut cat = clients.client(Some("cat"));
    ann.send("/block bob");
    ann.expect("now blocked (1): bob");
    bob.send("bob speaking");
    cat.expect("<bob> bob speaking");
    ann.send("ann speaking");
    cat.expect("<ann> ann speaking");
    bob.send("@ann are you there?");
    bob.expect("ann does not accept your messages");
    ann.send("@bob hello?");
    ann.expect("You have blocked bob");
    cat.send("cat sentinel");
    ann.expect("<cat> cat sentinel");
    bob.expect("<cat> cat sentinel");
    assert!(!ann.saw("bob speaking"), "{}", ann.seen_text());
    assert!(!bob.saw("ann speaking"), "{}", bob.seen_text());
    // join history: bob comes back and still does not see ann
    bob.send("/quit");
    assert_eq!(bob.wait(), 0);
    ann.expect("-- bob left");
    let mut bob = clients.client(Some("bob"));
    bob.expect("online (");
    let history = bob.seen_text();
    assert!(
        history.contains("<bob> bob speaking") && history.contains("<cat> cat sentinel"),
        "{history}"
    );
    assert!(!history.contains("ann speaking"), "{history}");
    // unblocking lets messages through again
    ann.send("/unblock bob");
    ann.expect("now blocked (0)");
    bob.send("friends again");
    ann.expect("<bob> friends again");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_session_sends_everything_before_leaving_at_end_of_input() {
    let dirs = Dirs::new();
    let (server, clients) = start(&dirs).await;
    let mut bob = clients.client(Some("bob"));
    let mut ann = clients.client_raw(Some("ann"));
    ann.send("hi");
    ann.send("@bob psst");
    ann.send("/allusers");
    ann.close_stdin();
    ann.expect("everyone ever seen");
    assert_eq!(ann.wait(), 0);
    bob.expect("<ann> hi");
    bob.expect("<ann -> bob> psst");
    bob.expect("-- ann left");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_reconnects_and_logs_in_again_after_the_server_restarts() {
    let dirs = Dirs::new();
    let (server, clients) = start(&dirs).await;
    let port = server.addr.port();
    let mut ann = clients.client(Some("ann"));
    let mut witness = clients.client(Some("witness"));
    ann.send("before");
    witness.expect("<ann> before");
    drop(witness);
    server.stop().await;
    ann.expect("connection lost");
    let mut config = dirs.config();
    config.port = port;
    let server = TestServer::start(config).await;
    ann.expect("connected to");
    ann.expect("Welcome! You are ann.");
    let mut bob = clients.client(Some("bob"));
    ann.expect("bob joined");
    ann.send("after");
    bob.expect("<ann> after");
    assert!(bob.saw("<ann> before"), "history kept: {}", bob.seen_text());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_server_restarts_the_client_shows_each_message_once() {
    let dirs = Dirs::new();
    let (server, clients) = start(&dirs).await;
    let port = server.addr.port();
    let mut ann = clients.client(Some("ann"));
    let mut bob = server.client().await;
    bob.login("bob").await;
    for i in 0..3 {
        bob.say("ALL", &format!("early {i}")).await;
    }
    ann.expect("<bob> early 2");
    drop(bob);
    server.stop().await;
    ann.expect("connection lost");
    let mut config = dirs.config();
    config.port = port;
    let server = TestServer::start(config).await;
    ann.expect("connected to");
    ann.expect("Welcome! You are ann.");
    let mut bob = server.client().await;
    bob.login("bob").await;
    bob.say("ALL", "late").await;
    ann.expect("<bob> late");
    // The login again asked only for what came after the last message ann had: the early
    // ones are not replayed a second time.
    let text = ann.seen_text();
    for i in 0..3 {
        assert_eq!(text.matches(&format!("<bob> early {i}")).count(), 1, "{text}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_and_connection_failures_say_how_to_fix_them() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let port = server.addr.port().to_string();
    let mut no_ca = Cli::spawn(bin!("chatterbox"), &["localhost", "-p", &port, "--plain"]);
    no_ca.expect("pass --ca certs/ca.pem");
    assert_eq!(no_ca.wait(), 1);
    let ca = server.ca.display().to_string();
    let mut seed_spelling = Cli::spawn(
        bin!("chatterbox"),
        &["localhost", "-p", &port, "-ca", &ca, "--username", "ann"],
    );
    seed_spelling.expect("Welcome! You are ann.");
    drop(seed_spelling);
    server.stop().await;
    let free = free_port().to_string();
    let mut refused = Cli::spawn(bin!("chatterbox"), &["127.0.0.1", "-p", &free, "--plain"]);
    refused.expect("is the server running there?");
    assert_eq!(refused.wait(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_servers_the_client_moves_to_the_other_when_its_server_dies() {
    // Two independent servers sharing one CA (the second reuses the first's certificates), as
    // the nodes of a cluster would; what is tested is the client's choice of server.
    let dirs = Dirs::new();
    let first = TestServer::start(dirs.config()).await;
    let other = Dirs::new();
    let mut config = other.config();
    config.certs_dir = dirs.certs();
    let second = TestServer::start(config).await;
    let (a, b) = (first.addr.port(), second.addr.port());
    let list = format!("localhost:{a},localhost:{b}");
    let ca = first.ca.display().to_string();
    let args = [list.as_str(), "--ca", &ca, "--plain", "--username", "ann"];
    let mut ann = Cli::spawn(bin!("chatterbox"), &args);
    ann.expect(&format!("-- connected to localhost:{a} (127.0.0.1)"));
    ann.expect("Welcome! You are ann.");
    first.stop().await;
    ann.expect("connection lost");
    ann.expect(&format!("-- connected to localhost:{b} (127.0.0.1)"));
    ann.expect("Welcome! You are ann.");
    let mut bob = CliLauncher::new(bin!("chatterbox"), &second).client(Some("bob"));
    ann.expect("bob joined");
    ann.send("on the second server");
    bob.expect("<ann> on the second server");
    // the dead server was not tried again first: the next one in the list was
    assert!(!ann.saw("; trying"), "{}", ann.seen_text());
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_down_at_start_is_skipped_and_a_list_of_none_that_answer_fails() {
    let dirs = Dirs::new();
    let server = TestServer::start(dirs.config()).await;
    let ca = server.ca.display().to_string();
    let up = server.addr.port();
    let (down, also_down) = (free_port(), free_port());
    // -p is the port of the entry without one
    let list = format!("127.0.0.1,localhost:{up}");
    let args = [list.as_str(), "-p", &down.to_string(), "--ca", &ca, "--username", "ann"];
    let mut ann = Cli::spawn(bin!("chatterbox"), &args);
    let skipped = ann.expect(&format!("; trying localhost:{up}"));
    assert!(skipped.contains(&format!("cannot connect to 127.0.0.1 port {down}")), "{skipped}");
    ann.expect(&format!("-- connected to localhost:{up}"));
    ann.expect("Welcome! You are ann.");
    drop(ann);
    server.stop().await;
    let list = format!("127.0.0.1:{down},127.0.0.1:{also_down}");
    let mut nobody = Cli::spawn(bin!("chatterbox"), &[list.as_str(), "--plain"]);
    nobody.expect("none of the 2 servers could be reached; the last: cannot connect to 127.0.0.1");
    assert_eq!(nobody.wait(), 1);
    let mut junk = Cli::spawn(bin!("chatterbox"), &["a:1,,b", "--plain"]);
    junk.expect(r#"a server is missing in "a:1,,b""#);
    assert_eq!(junk.wait(), 2, "a usage error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_are_joined_written_to_listed_and_left_and_others_do_not_see_them() {
    let dirs = Dirs::new();
    let (server, clients) = start(&dirs).await;
    let mut ann = clients.client(Some("ann"));
    let mut bob = clients.client(Some("bob"));
    let mut cy = clients.client(Some("cy"));
    ann.send("/join #Rust");
    ann.expect("You are in #rust now, and write there (with ann).");
    bob.send("/join #rust");
    bob.expect("You are in #rust now");
    ann.expect("bob joined #rust");
    ann.send("hello rust");
    bob.expect("#rust <ann> hello rust");
    // bob writes to everyone again; his room keeps counting what he has not read.
    bob.send("/room");
    bob.expect("You write to everyone now.");
    ann.send("more rust");
    bob.expect("#rust <ann> more rust");
    bob.send("/rooms");
    bob.expect("rooms (1): #rust (2 of 2 online)");
    bob.expect("your rooms (1): #rust (1 unread)");
    bob.send("/room #rust");
    bob.expect("You write to #rust now.");
    bob.send("back to rust");
    ann.expect("#rust <bob> back to rust");
    // cy, in no room, gets none of it: the probe from the main room comes after.
    ann.send("/room");
    ann.send("probe");
    cy.expect("<ann> probe");
    assert!(!cy.saw("rust"), "{}", cy.seen_text());
    ann.send("/part #rust");
    ann.expect("You left #rust; you write to everyone.");
    bob.expect("ann left #rust");
    bob.send("/join rust");
    bob.expect("Usage: /join #room");
    bob.send("/room #elsewhere");
    bob.expect("You are not in #elsewhere");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_delete_and_search_from_the_terminal() {
    let dirs = Dirs::new();
    let (server, clients) = start(&dirs).await;
    let mut ann = clients.client(Some("ann"));
    let mut bob = clients.client(Some("bob"));
    ann.send("the quick brwn fox");
    // Shown once the server has it, with its id, at the sender too.
    ann.expect("<ann> the quick brwn fox");
    bob.expect("<ann> the quick brwn fox");
    ann.send("/edit the quick brown fox");
    bob.expect("-- ann edited a message: the quick brown fox");
    ann.expect("-- ann edited a message: the quick brown fox");
    ann.send("a regrettable remark");
    bob.expect("<ann> a regrettable remark");
    // /delete takes ann's last message as her client knows it: once it is back with its id.
    ann.expect("<ann> a regrettable remark");
    ann.send("/delete");
    bob.expect("-- ann deleted a message");
    bob.send("/search fox");
    bob.expect("Search \"fox\": 1 result:");
    bob.expect("<ann> the quick brown fox  (id ");
    bob.send("/search regrettable");
    bob.expect("Search \"regrettable\": nothing found.");
    bob.send("/search brwn from:ann");
    bob.expect("Search \"brwn\": nothing found.");
    bob.send("/edit mine");
    bob.expect("You have written nothing here to change yet.");
    bob.send("/search \"open quote");
    bob.expect("has a quote (\") that is not closed");
    bob.send("/more");
    bob.expect("No more results");
    server.stop().await;
}
