//! Files in the terminal client (extension `files`) against a real server: `/send` a file
//! privately and to a room, with its progress; `/get` it on the other side, byte-identical,
//! under a name of its own; the mistakes a user makes, explained.

use test_support::*;

async fn start(dirs: &Dirs) -> (TestServer, CliLauncher) {
    let server = TestServer::start(dirs.config()).await;
    let clients = CliLauncher::new(bin!("chatterbox"), &server);
    (server, clients)
}

/// `n` bytes that do not repeat.
fn bytes(n: usize, seed: u32) -> Vec<u8> {
    (0..n as u32).map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 11) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_sent_from_one_terminal_is_saved_by_another_byte_identical() {
    let dirs = Dirs::new();
    let (server, clients) = start(&dirs).await;
    let work = tempfile::tempdir().expect("dir");
    let notes = work.path().join("notes.bin");
    let data = bytes(600_000, 1);
    std::fs::write(&notes, &data).expect("write");
    let saved = work.path().join("saved");

    let mut ann = clients.client(Some("ann"));
    let mut bob = clients.client(Some("bob"));
    ann.expect("bob joined");
    ann.send(&format!("/send {} @bob", notes.display()));
    ann.expect("Sending notes.bin (600.0 kB) to bob");
    ann.expect("Sending notes.bin: 75% (589.8 kB of 600.0 kB)");
    ann.expect("Sent notes.bin (600.0 kB) to bob.");
    bob.expect("<ann -> bob> ann shared notes.bin (600.0 kB)");
    bob.expect("-- file 1: notes.bin (600.0 kB, application/octet-stream); /get 1 saves it");
    bob.send(&format!("/get 1 {}", saved.display()));
    let done = bob.expect("Saved notes.bin (600.0 kB) as");
    assert!(done.contains(&saved.join("notes.bin").display().to_string()), "{done}");
    assert!(std::fs::read(saved.join("notes.bin")).expect("saved") == data, "byte-identical");
    // Saved again: beside the first, not over it.
    bob.send(&format!("/get 1 {}", saved.display()));
    bob.expect("Saved notes.bin (600.0 kB) as");
    assert!(std::fs::read(saved.join("notes (1).bin")).expect("saved again") == data);

    // To the room written to: members only.
    let mut cat = clients.client(Some("cat"));
    bob.send("/join #team");
    bob.expect("You are in #team now");
    ann.send("/join #team");
    ann.expect("You are in #team now, and write there (with ann, bob)");
    let photo = work.path().join("cat.png");
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(bytes(5000, 2));
    std::fs::write(&photo, &png).expect("write");
    ann.send(&format!("/send {}", photo.display()));
    ann.expect("Sent cat.png (5.0 kB) to #team.");
    bob.expect("-- file 2: cat.png (5.0 kB, image/png); /get 2 saves it");
    bob.send(&format!("/get 2 {}", saved.display()));
    bob.expect("Saved cat.png");
    assert!(std::fs::read(saved.join("cat.png")).expect("saved") == png);
    ann.send("@cat probe after the file");
    cat.expect("probe after the file");
    assert!(!cat.saw("cat.png"), "not in #team: {}", cat.seen_text());

    // Mistakes, explained.
    bob.send("/get 9");
    bob.expect("There is no file 9 here");
    ann.send(&format!("/send {}", work.path().join("missing.txt").display()));
    ann.expect("missing.txt cannot be read");
    ann.send(&format!("/send {} @nobody", notes.display()));
    ann.expect("Sending notes.bin stopped: nobody is not online; the file was not sent.");
    ann.expect("!! nobody is not online");
    cat.send("/get");
    cat.expect("Usage: /get N [DIR]");
    server.stop().await;
}
