//! File transfer benchmark (run by `cargo xtask bench`): a 100 MB file sent and fetched on the
//! native protocol (`UPLOAD` and `CHUNK`s; `FETCH`es a few pieces ahead, as the terminal
//! client asks) and over HTTPS (the browser's `POST` and `GET`), against a server in this
//! process with its files on the disk. Prints `key=value` lines: MB/s (10^6 bytes a second),
//! the median and the best of a few runs.
//!
//! An upload is timed from its announcement to the server's answer that the file is stored,
//! checked against its SHA-256 (read again from the disk) and its message committed; a
//! download from the first request to the last byte, checked after.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use shared::Frame;
use shared::frame::{Chunk, Fetch, Upload};
use shared::limits::FILE_CHUNK;
use test_support::*;

/// The file's size: 100 MB.
const SIZE: usize = 100_000_000;
/// Runs of each way.
const RUNS: usize = 3;
/// Pieces a download asks for ahead (as the terminal client does).
const AHEAD: usize = 4;

fn sha256(b: &[u8]) -> String {
    chatterbox_server::files::Sha256::of(b).as_str().to_owned()
}

/// `SIZE` bytes that do not compress, different for each `seed`.
fn file(seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(SIZE + 8);
    while out.len() < SIZE {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(SIZE);
    out
}

fn mb_s(took: Duration) -> f64 {
    SIZE as f64 / 1e6 / took.as_secs_f64()
}

/// Uploads `data` on the native protocol: the time and its SHA-256.
async fn native_upload(c: &mut Client, data: &[u8]) -> (Duration, String) {
    let sha = sha256(data);
    let upload = Upload {
        name: "big.bin".into(),
        size: data.len() as u64,
        sha256: sha.clone(),
        to: "ALL".into(),
    };
    let t = Instant::now();
    c.send(&Frame { upload: Some(upload), ..Frame::default() }).await;
    let r = c.recv_where(|f| f.uploading.is_some() || f.error.is_some()).await;
    assert!(r.uploading.is_some(), "{:?}", r.error);
    for (i, piece) in data.chunks(FILE_CHUNK).enumerate() {
        let chunk = Chunk {
            sha256: sha.clone(),
            offset: (i * FILE_CHUNK) as u64,
            data: BASE64.encode(piece),
        };
        c.send(&Frame { chunk: Some(chunk), ..Frame::default() }).await;
    }
    let done = c.recv_where(|f| f.uploaded.is_some() || f.error.is_some()).await;
    assert_eq!(done.uploaded.as_deref(), Some(sha.as_str()), "{:?}", done.error);
    (t.elapsed(), sha)
}

/// Downloads the file of message `id` on the native protocol: the time.
async fn native_download(c: &mut Client, id: i64, sha: &str) -> Duration {
    let fetch = |offset: usize| Frame {
        fetch: Some(Fetch { id, offset: offset as u64 }),
        ..Frame::default()
    };
    let t = Instant::now();
    let mut asked = 0usize;
    let mut got = Vec::with_capacity(SIZE);
    while asked < AHEAD * FILE_CHUNK {
        c.send(&fetch(asked)).await;
        asked += FILE_CHUNK;
    }
    while got.len() < SIZE {
        let d = c.recv_where(|f| f.file_data.is_some() || f.error.is_some()).await;
        let d = d.file_data.expect("a piece");
        got.extend(BASE64.decode(d.data).expect("base64"));
        if asked < SIZE {
            c.send(&fetch(asked)).await;
            asked += FILE_CHUNK;
        }
    }
    let took = t.elapsed();
    assert_eq!(sha256(&got), sha, "byte-identical");
    took
}

/// The median and the best MB/s of `runs`.
fn report(key: &str, mut runs: Vec<Duration>) {
    runs.sort();
    println!("{key}_median_mb_s={:.0}", mb_s(runs[runs.len() / 2]));
    println!("{key}_best_mb_s={:.0}", mb_s(runs[0]));
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dirs = Dirs::new();
    let config = chatterbox_server::Config {
        flood: None,
        login_rate: None,
        quota: 64 << 30,
        max_file: SIZE as u64,
        ..dirs.config()
    };
    let server = TestServer::start(config).await;
    let web = server.web.expect("gateway");
    println!("files_size_mb={}", SIZE / 1_000_000);

    // Native: a reader (to learn the ids) and a sender.
    let (mut reader, _) =
        Client::logged_in(server.addr, &server.ca, "reader", Some(&["files"])).await;
    let (mut up, down) = (Vec::new(), Vec::new());
    let mut down = down;
    for run in 0..RUNS {
        let data = file(run as u64);
        let name = format!("sender{run}");
        let (mut c, _) = Client::logged_in(server.addr, &server.ca, &name, Some(&["files"])).await;
        let (took, sha) = native_upload(&mut c, &data).await;
        up.push(took);
        let id = loop {
            let m = reader.next_message().await;
            if m.file.is_some() {
                break m.id.expect("id");
            }
        };
        down.push(native_download(&mut reader, id, &sha).await);
        eprintln!("native run {run}: up {:.0} MB/s, down {:.0} MB/s", mb_s(took), mb_s(down[run]));
    }
    report("files_native_upload", up);
    report("files_native_download", down);

    // HTTPS: the browser's way, with its WebSocket's pass.
    let (mut ws, cookie) = ws_connect_with_cookie(web, &server.ca).await;
    let pass = cookie.expect("cookie").split(';').next().expect("pair").to_owned();
    let features = Some(vec!["files".to_owned(), "edit".to_owned()]);
    let login = Frame { username: Some("browser".into()), features, ..Frame::default() };
    ws_send(&mut ws, &login).await;
    let url = ws_recv_where(&mut ws, |f| f.files_url.is_some()).await.files_url.expect("URL");
    let (mut up, mut down) = (Vec::new(), Vec::new());
    for run in 0..RUNS {
        let data = file(100 + run as u64);
        let sha = sha256(&data);
        let post = format!("{url}/upload?name=big.bin&size={SIZE}&sha256={sha}&to=ALL&offset=0");
        let t = Instant::now();
        let a = https_request(web, &server.ca, "POST", &post, &[("cookie", &pass)], &data).await;
        let took = t.elapsed();
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
        up.push(took);
        let id = loop {
            let f = ws_recv_where(&mut ws, |f| f.messages.is_some()).await;
            let file = f.messages.iter().flatten().find(|m| m.file.is_some()).and_then(|m| m.id);
            if let Some(id) = file {
                break id;
            }
        };
        let t = Instant::now();
        let got = https_request(
            web,
            &server.ca,
            "GET",
            &format!("{url}/{id}"),
            &[("cookie", &pass)],
            b"",
        )
        .await;
        let took_down = t.elapsed();
        assert_eq!(sha256(&got.body), sha, "byte-identical");
        down.push(took_down);
        eprintln!("HTTPS run {run}: up {:.0} MB/s, down {:.0} MB/s", mb_s(took), mb_s(took_down));
    }
    report("files_https_upload", up);
    report("files_https_download", down);
    server.stop().await;
}
