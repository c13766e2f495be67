//! Files (extension `files`) against the real server process: a file sent privately, to a
//! room and to everyone reaches exactly who its message reaches, byte-identical; nobody else
//! can list or fetch it; hostile uploads are refused and leave nothing behind; an interrupted
//! upload resumes; a restart keeps files; deleting the last message of a file removes it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use shared::Frame;
use shared::frame::{Chunk, Fetch, Upload};
use shared::limits::FILE_CHUNK;
use test_support::*;

const FILES: &[&str] = &["files", "rooms", "edit"];

fn server(dirs: &Dirs, extra: &[&str]) -> BinServer {
    BinServer::spawn(bin!("chatterbox-server"), dirs, extra)
}

async fn user(s: &BinServer, dirs: &Dirs, name: &str, f: Option<&[&str]>) -> (Client, Frame) {
    Client::logged_in(s.addr, &dirs.ca(), name, f).await
}

/// `n` bytes that do not compress or repeat (a xorshift stream from `seed`).
fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn sha256(b: &[u8]) -> String {
    chatterbox_server::files::Sha256::of(b).as_str().to_owned()
}

fn upload_frame(name: &str, data: &[u8], to: &str) -> Frame {
    let upload =
        Upload { name: name.into(), size: data.len() as u64, sha256: sha256(data), to: to.into() };
    Frame { upload: Some(upload), ..Frame::default() }
}

fn chunk_frame(sha: &str, offset: usize, piece: &[u8]) -> Frame {
    let chunk = Chunk { sha256: sha.into(), offset: offset as u64, data: BASE64.encode(piece) };
    Frame { chunk: Some(chunk), ..Frame::default() }
}

/// Announces `data` and waits for `UPLOADING` (its offset) or an ERROR.
async fn announce(c: &mut Client, name: &str, data: &[u8], to: &str) -> Result<u64, String> {
    c.send(&upload_frame(name, data, to)).await;
    let f =
        c.recv_where(|f| f.uploading.is_some() || f.uploaded.is_some() || f.error.is_some()).await;
    match (f.uploading, f.error) {
        (Some(u), _) => Ok(u.offset),
        (None, Some(e)) => Err(e),
        (None, None) => Ok(data.len() as u64),
    }
}

/// Sends `data[from..]` in chunks, all at once (the server reads them in order).
async fn send_chunks(c: &mut Client, data: &[u8], from: usize) {
    let sha = sha256(data);
    let mut offset = from;
    for piece in data[from..].chunks(FILE_CHUNK) {
        c.send(&chunk_frame(&sha, offset, piece)).await;
        offset += piece.len();
    }
}

/// Sends the file `data` as `name` to `to`; `Ok` once `UPLOADED`, or the ERROR.
async fn send_file(c: &mut Client, name: &str, data: &[u8], to: &str) -> Result<(), String> {
    let from = announce(c, name, data, to).await?;
    send_chunks(c, data, from as usize).await;
    let f = c.recv_where(|f| f.uploaded.is_some() || f.error.is_some()).await;
    match f.uploaded {
        Some(sha) => {
            assert_eq!(sha, sha256(data));
            Ok(())
        }
        None => Err(f.error.unwrap_or_default()),
    }
}

/// Downloads the file of message `id`, a few pieces asked for at a time; or the ERROR.
async fn fetch_all(c: &mut Client, id: i64) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let fetch = Fetch { id, offset: out.len() as u64 };
        c.send(&Frame { fetch: Some(fetch), ..Frame::default() }).await;
        let f = c.recv_where(|f| f.file_data.is_some() || f.error.is_some()).await;
        let Some(d) = f.file_data else { return Err(f.error.unwrap_or_default()) };
        assert_eq!((d.id, d.offset), (id, out.len() as u64));
        let piece = BASE64.decode(d.data).expect("base64");
        assert!(piece.len() <= FILE_CHUNK);
        out.extend_from_slice(&piece);
        if out.len() as u64 >= d.size || piece.is_empty() {
            return Ok(out);
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

async fn join(c: &mut Client, room: &str) {
    c.send(&Frame { join: Some(room.into()), ..Frame::default() }).await;
    c.recv_where(|f| f.joined.is_some()).await;
}

fn partials(dirs: &Dirs) -> Vec<String> {
    std::fs::read_dir(dirs.data().join("files/partial"))
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

fn stored(dirs: &Dirs, data: &[u8]) -> bool {
    let sha = sha256(data);
    dirs.data().join("files").join(&sha[..2]).join(sha).is_file()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_file_reaches_its_recipient_byte_identical_and_nobody_else() {
    let dirs = Dirs::new();
    let s = server(&dirs, &[]);
    let (mut ann, r) = user(&s, &dirs, "ann", Some(FILES)).await;
    assert_eq!(r.features.as_deref().map(|f| f.contains(&"files".to_owned())), Some(true));
    let (mut bob, _) = user(&s, &dirs, "bob", Some(FILES)).await;
    let (mut cy, _) = user(&s, &dirs, "cy", Some(FILES)).await;
    let (mut dan, _) = user(&s, &dirs, "dan", None).await;

    let data = bytes(FILE_CHUNK * 2 + 1000, 7);
    send_file(&mut ann, "notes.bin", &data, "bob").await.expect("sent");
    let m = next_file(&mut bob).await;
    let file = m.file.clone().expect("FILE");
    assert_eq!((m.src.as_str(), m.dest.as_str()), ("ann", "bob"));
    assert_eq!(m.content, "ann shared notes.bin (394.2 kB)");
    assert_eq!(
        (file.name.as_str(), file.size, file.kind.as_str(), file.sha256.clone()),
        ("notes.bin", data.len() as u64, "application/octet-stream", sha256(&data))
    );
    let id = m.id.expect("a file's message carries its id");
    assert_eq!(fetch_all(&mut bob, id).await.map(|b| sha256(&b)), Ok(sha256(&data)));
    // bob sends one back: the same way, the other direction.
    let back = bytes(5000, 9);
    send_file(&mut bob, "reply.bin", &back, "ann").await.expect("sent back");
    // (ann negotiated `edit`, so her own file's message may come back to her first.)
    let r = loop {
        let m = next_file(&mut ann).await;
        if m.src == "bob" {
            break m;
        }
        assert_eq!(m.id, Some(id), "only her own is before it");
    };
    assert_eq!(fetch_all(&mut ann, r.id.expect("id")).await.map(|b| sha256(&b)), Ok(sha256(&back)));

    // cy neither gets the message nor can fetch the file by its id, nor the next ones.
    ann.say("ALL", "probe").await;
    cy.expect_none_before_probe("probe", "a private file's message", |f| {
        f.messages.iter().flatten().any(|m| m.file.is_some())
    })
    .await;
    for guess in [id, id + 1, id - 1, 0, i64::MAX] {
        let e = fetch_all(&mut cy, guess).await.expect_err("not cy's");
        assert!(e.contains(&format!("There is no file {guess} you can see")), "{e}");
    }
    // Nor does a login's history list it for cy; bob's shows it with its FILE.
    let (_cy2, h) = user(&s, &dirs, "cy2", Some(FILES)).await;
    assert!(h.messages.iter().flatten().all(|m| m.file.is_none()), "{h:?}");
    // A plain client reading a public file's message sees an ordinary message.
    let photo = bytes(2_100_000, 3);
    send_file(&mut ann, "holiday.jpg", &photo, "ALL").await.expect("sent to everyone");
    let plain = dan.recv_message("ann shared holiday.jpg (2.1 MB)").await;
    assert_eq!((plain.id, plain.file), (None, None));
    let public = next_file(&mut cy).await;
    assert_eq!(
        fetch_all(&mut cy, public.id.expect("id")).await.map(|b| sha256(&b)),
        Ok(sha256(&photo))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rooms_file_is_for_its_members_only() {
    let dirs = Dirs::new();
    let s = server(&dirs, &[]);
    let (mut ann, _) = user(&s, &dirs, "ann", Some(FILES)).await;
    let (mut bob, _) = user(&s, &dirs, "bob", Some(FILES)).await;
    let (mut cy, _) = user(&s, &dirs, "cy", Some(FILES)).await;
    join(&mut ann, "#team").await;
    join(&mut bob, "#team").await;
    let data = bytes(300_000, 11);
    send_file(&mut ann, "plan.pdf", &data, "#team").await.expect("sent");
    let m = next_file(&mut bob).await;
    assert_eq!(m.dest, "#team");
    let id = m.id.expect("id");
    assert_eq!(fetch_all(&mut bob, id).await.map(|b| sha256(&b)), Ok(sha256(&data)));
    let e = fetch_all(&mut cy, id).await.expect_err("cy is not in #team");
    assert!(e.contains("no file"), "{e}");
    // Not a member: refused before any byte travels.
    let e = announce(&mut cy, "x.bin", &data, "#team").await.expect_err("not a member");
    assert!(e.contains("You are not in #team"), "{e}");
    // A member who leaves can no longer fetch it.
    bob.send(&Frame { part: Some("#team".into()), ..Frame::default() }).await;
    bob.recv_where(|f| f.parted.is_some()).await;
    assert!(fetch_all(&mut bob, id).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_uploads_are_refused_and_leave_nothing_behind() {
    let dirs = Dirs::new();
    let s = server(&dirs, &["--max-file-mb", "1", "--quota-mb", "2"]);
    let (mut ann, _) = user(&s, &dirs, "ann", Some(FILES)).await;
    let (_bob, _) = user(&s, &dirs, "bob", Some(FILES)).await;
    let data = bytes(400_000, 5);
    for (name, why) in [
        ("../../etc/passwd", "path separator"),
        ("a/b.txt", "path separator"),
        ("c:\\x.exe", "path separator"),
        ("..", "directory"),
        ("..hidden", "directory"),
        ("bell\u{7}.txt", "control"),
        ("evil\u{202e}gpj.exe", "text-direction"),
        ("", "empty"),
    ] {
        let e = announce(&mut ann, name, &data, "ALL").await.expect_err(name);
        assert!(e.contains("cannot be used") && e.contains(why), "{name:?}: {e}");
    }
    let mut bad = upload_frame("a.bin", &data, "ALL");
    bad.upload.as_mut().expect("upload").sha256 = "xyz".into();
    ann.send(&bad).await;
    assert!(ann.recv_error().await.contains("SHA256 must be 64 hexadecimal digits"));
    let big = bytes((1 << 20) + 1, 1);
    let e = announce(&mut ann, "big.bin", &big, "ALL").await.expect_err("over the file limit");
    assert!(e.contains("files may be up to 1048576 bytes"), "{e}");
    let e = announce(&mut ann, "nobody.bin", &data, "zed").await.expect_err("zed is offline");
    assert!(e.contains("zed is not online"), "{e}");
    let e = announce(&mut ann, "empty.bin", &[], "ALL").await.expect_err("empty");
    assert!(e.contains("empty"), "{e}");

    // Bytes that are not the announced ones: refused at the end, removed.
    let other = bytes(data.len(), 6);
    assert_eq!(announce(&mut ann, "liar.bin", &data, "ALL").await, Ok(0));
    let sha = sha256(&data);
    for (i, piece) in other.chunks(FILE_CHUNK).enumerate() {
        ann.send(&chunk_frame(&sha, i * FILE_CHUNK, piece)).await;
    }
    assert!(ann.recv_error().await.contains("do not match its SHA256"));
    // More bytes than announced: refused, removed.
    let small = bytes(1000, 8);
    assert_eq!(announce(&mut ann, "short.bin", &small, "ALL").await, Ok(0));
    ann.send(&chunk_frame(&sha256(&small), 0, &bytes(2000, 8))).await;
    assert!(ann.recv_error().await.contains("longer than the 1000 bytes announced"));
    // Not base64, and a chunk with no upload announced.
    assert_eq!(announce(&mut ann, "b64.bin", &small, "ALL").await, Ok(0));
    let mut junk = chunk_frame(&sha256(&small), 0, &small);
    junk.chunk.as_mut().expect("chunk").data = "!!!not base64!!!".into();
    ann.send(&junk).await;
    assert!(ann.recv_error().await.contains("DATA is not base64"));
    // (Further chunks of the refused upload are dropped quietly; one of no upload is not.)
    ann.send(&chunk_frame(&sha256(&small), 0, &small)).await;
    ann.send(&chunk_frame(&sha, 0, &small)).await;
    assert!(ann.recv_error().await.contains("send UPLOAD first"));

    // The quota (2 MiB): two files of 0.9 MiB fit, a third does not.
    let f1 = bytes(900 << 10, 21);
    let f2 = bytes(900 << 10, 25);
    let f3 = bytes(900 << 10, 29);
    send_file(&mut ann, "one.bin", &f1, "ALL").await.expect("first fits");
    send_file(&mut ann, "two.bin", &f2, "ALL").await.expect("second fits");
    let e = announce(&mut ann, "three.bin", &f3, "ALL").await.expect_err("over the quota");
    assert!(e.contains("past your quota of 2097152 bytes"), "{e}");
    assert_eq!(partials(&dirs), Vec::<String>::new(), "no partial upload left behind");
    assert_eq!([stored(&dirs, &data), stored(&dirs, &small), stored(&dirs, &f3)], [false; 3]);
    assert!(stored(&dirs, &f1) && stored(&dirs, &f2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_upload_resumes_where_it_stopped() {
    let dirs = Dirs::new();
    let s = server(&dirs, &[]);
    let (mut bob, _) = user(&s, &dirs, "bob", Some(FILES)).await;
    let data = bytes(FILE_CHUNK * 3 + 10, 13);
    let sha = sha256(&data);
    {
        let (mut ann, _) = user(&s, &dirs, "ann", Some(FILES)).await;
        assert_eq!(announce(&mut ann, "big.bin", &data, "ALL").await, Ok(0));
        ann.send(&chunk_frame(&sha, 0, &data[..FILE_CHUNK])).await;
        ann.send(&chunk_frame(&sha, FILE_CHUNK, &data[FILE_CHUNK..2 * FILE_CHUNK])).await;
        // Once a later request is answered, both chunks are in.
        let e = fetch_all(&mut ann, 0).await.expect_err("no file 0");
        assert!(e.contains("no file"), "{e}");
    } // the connection drops halfway
    let (mut ann, _) = Client::logged_in_again(s.addr, &dirs.ca(), "ann", Some(FILES)).await;
    assert_eq!(announce(&mut ann, "big.bin", &data, "ALL").await, Ok(2 * FILE_CHUNK as u64));
    send_chunks(&mut ann, &data, 2 * FILE_CHUNK).await;
    assert_eq!(
        ann.recv_where(|f| f.uploaded.is_some() || f.error.is_some()).await.uploaded,
        Some(sha)
    );
    let m = next_file(&mut bob).await;
    assert_eq!(fetch_all(&mut bob, m.id.expect("id")).await, Ok(data));
    assert_eq!(partials(&dirs), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_survive_a_restart_and_go_with_the_last_message_that_refers_to_them() {
    let dirs = Dirs::new();
    let s = server(&dirs, &[]);
    let (mut ann, _) = user(&s, &dirs, "ann", Some(FILES)).await;
    let (mut bob, _) = user(&s, &dirs, "bob", Some(FILES)).await;
    let data = bytes(250_000, 17);
    send_file(&mut ann, "a.bin", &data, "ALL").await.expect("first");
    send_file(&mut ann, "same-bytes.bin", &data, "ALL").await.expect("again, deduplicated");
    let first = next_file(&mut bob).await.id.expect("id");
    let second = next_file(&mut bob).await.id.expect("id");
    assert!(stored(&dirs, &data));
    drop((ann, bob));
    s.stop();

    let s = server(&dirs, &[]);
    let (mut ann, h) = user(&s, &dirs, "ann", Some(FILES)).await;
    let names: Vec<_> = h
        .messages
        .iter()
        .flatten()
        .filter_map(|m| m.file.as_ref())
        .map(|f| f.name.clone())
        .collect();
    assert_eq!(names, ["a.bin", "same-bytes.bin"], "the history lists both");
    assert_eq!(fetch_all(&mut ann, first).await.map(|b| sha256(&b)), Ok(sha256(&data)));
    // Not editable; deletable, and the bytes stay while another message refers to them.
    ann.send(&Frame {
        edit: Some(shared::frame::Edit { id: first, content: "x".into() }),
        ..Frame::default()
    })
    .await;
    assert!(ann.recv_error().await.contains("shares a file; it cannot be edited"));
    ann.send(&Frame { delete: Some(first), ..Frame::default() }).await;
    ann.recv_where(|f| {
        f.messages.iter().flatten().any(|m| m.change == Some(shared::frame::Change::Delete(first)))
    })
    .await;
    assert!(fetch_all(&mut ann, first).await.is_err(), "a deleted message's file is gone");
    assert_eq!(fetch_all(&mut ann, second).await.map(|b| sha256(&b)), Ok(sha256(&data)));
    assert!(stored(&dirs, &data));
    ann.send(&Frame { delete: Some(second), ..Frame::default() }).await;
    ann.recv_where(|f| {
        f.messages.iter().flatten().any(|m| m.change == Some(shared::frame::Change::Delete(second)))
    })
    .await;
    // The writer removes the bytes right after committing the delete; a message after it
    // shows the commit is done.
    let (mut cy, _) = user(&s, &dirs, "cy", None).await;
    ann.say("ALL", "after").await;
    cy.recv_message("after").await;
    assert!(!stored(&dirs, &data), "the last reference went, and the bytes with it");
}

/// A browser's side: a WebSocket logged in as `name` with `files`, its cookie and its files'
/// path (`FILES_URL`).
async fn browser(s: &BinServer, dirs: &Dirs, name: &str) -> (WsStream, String, String) {
    let web = s.web.expect("the gateway");
    let (mut ws, cookie) = ws_connect_with_cookie(web, &dirs.ca()).await;
    let cookie = cookie.expect("the upgrade sets the files cookie");
    let features = Some(vec!["files".to_owned(), "edit".to_owned()]);
    ws_send(&mut ws, &Frame { username: Some(name.into()), features, ..Frame::default() }).await;
    let r = ws_recv_where(&mut ws, |f| f.username_accepted.is_some()).await;
    assert_eq!(r.username_accepted, Some(true));
    let url = ws_recv_where(&mut ws, |f| f.files_url.is_some()).await.files_url.expect("URL");
    (ws, cookie, url)
}

/// The id of the next message on `ws` that shares a file named `name`.
async fn ws_file(ws: &mut WsStream, name: &str) -> i64 {
    loop {
        let f = ws_recv_where(ws, |f| f.messages.is_some()).await;
        let mut files = f.messages.iter().flatten().filter(|m| m.file.is_some());
        if let Some(m) = files.find(|m| m.file.as_ref().is_some_and(|x| x.name == name)) {
            return m.id.expect("a file's message has its id");
        }
    }
}

/// `name=value` of a `Set-Cookie`.
fn pair(cookie: &str) -> String {
    cookie.split(';').next().expect("a pair").to_owned()
}

/// A picture: `w` by `h` pixels of a gradient, as PNG.
fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 128]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).expect("png");
    out.into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_uploads_and_downloads_over_https_with_its_sessions_pass_only() {
    let dirs = Dirs::new();
    let s = server(&dirs, &[]);
    let web = s.web.expect("the gateway");
    let ca = dirs.ca();
    let (mut ann_ws, cookie, url) = browser(&s, &dirs, "ann").await;
    assert!(url.starts_with("/files/") && url.len() > "/files/".len(), "{url}");
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", &format!("Path={url}/")] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    let pass = pair(&cookie);
    let (mut bob, _) = user(&s, &dirs, "bob", Some(FILES)).await;

    // The browser uploads a picture to bob; bob gets it through the native protocol.
    let picture = png(800, 600);
    let sha = sha256(&picture);
    let post = format!(
        "{url}/upload?name=holiday%20photo.png&size={}&sha256={sha}&to=bob&offset=0",
        picture.len()
    );
    let a = https_request(web, &ca, "POST", &post, &[("cookie", &pass)], &picture).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let m = next_file(&mut bob).await;
    let file = m.file.clone().expect("FILE");
    assert_eq!((file.name.as_str(), file.kind.as_str()), ("holiday photo.png", "image/png"));
    assert_eq!(fetch_all(&mut bob, m.id.expect("id")).await.map(|b| sha256(&b)), Ok(sha.clone()));
    // (ann negotiated `edit`: her own file's message comes back to her, with its id.)
    let pic_id = ws_file(&mut ann_ws, "holiday photo.png").await;

    // bob sends the browser a document: it downloads it, as an attachment, never sniffed.
    let doc = bytes(700_000, 31);
    send_file(&mut bob, "report.bin", &doc, "ann").await.expect("sent");
    let id = ws_file(&mut ann_ws, "report.bin").await;
    let got =
        https_request(web, &ca, "GET", &format!("{url}/{id}"), &[("cookie", &pass)], b"").await;
    assert_eq!(got.status, 200);
    assert!(got.body == doc, "byte-identical");
    assert_eq!(got.header("content-type"), Some("application/octet-stream"));
    assert_eq!(got.header("content-disposition"), Some("attachment; filename*=utf-8''report.bin"));
    assert_eq!(got.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(got.header("content-security-policy"), Some("default-src 'none'; sandbox"));

    // The picture: inline, and a thumbnail no larger than 320 pixels a side.
    let full =
        https_request(web, &ca, "GET", &format!("{url}/{pic_id}"), &[("cookie", &pass)], b"").await;
    assert_eq!((full.status, full.header("content-type")), (200, Some("image/png")));
    assert!(full.header("content-disposition").is_some_and(|d| d.starts_with("inline")));
    assert!(full.body == picture);
    let thumb =
        https_request(web, &ca, "GET", &format!("{url}/{pic_id}/thumb"), &[("cookie", &pass)], b"")
            .await;
    assert_eq!(thumb.status, 200);
    let small = image::load_from_memory(&thumb.body).expect("a picture");
    assert_eq!((small.width(), small.height()), (320, 240));

    // Nobody else gets in: no cookie, another tab's pass, another path, a guessed id.
    let (_cy_ws, cy_cookie, cy_url) = browser(&s, &dirs, "cy").await;
    let cy_pass = pair(&cy_cookie);
    for (path, cookie) in [
        (format!("{url}/{id}"), ""),
        (format!("{url}/{id}"), cy_pass.as_str()),
        (format!("{cy_url}/{id}"), cy_pass.as_str()),
        (format!("{cy_url}/{id}/thumb"), cy_pass.as_str()),
        (format!("{url}/{}", id + 1000), pass.as_str()),
        (format!("/files/00000000/{id}"), pass.as_str()),
    ] {
        let headers: Vec<(&str, &str)> =
            if cookie.is_empty() { vec![] } else { vec![("cookie", cookie)] };
        let no = https_request(web, &ca, "GET", &path, &headers, b"").await;
        assert_eq!(no.status, 404, "{path} with {cookie:?}");
        assert!(!no.body.windows(16).any(|w| doc.windows(16).next() == Some(w)), "no bytes");
    }
    let denied = https_request(
        web,
        &ca,
        "POST",
        &post.replace(&url, &cy_url),
        &[("cookie", &pass)],
        &picture,
    )
    .await;
    assert_eq!(denied.status, 404, "ann's pass on cy's path");

    // An SVG (or HTML) that claims to be a picture is served as bytes to save, nothing runs.
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#;
    let post_svg = format!(
        "{url}/upload?name=cute.svg&size={}&sha256={}&to=ALL&offset=0",
        svg.len(),
        sha256(svg)
    );
    assert_eq!(
        https_request(web, &ca, "POST", &post_svg, &[("cookie", &pass)], svg).await.status,
        200
    );
    let svg_id = ws_file(&mut ann_ws, "cute.svg").await;
    let served =
        https_request(web, &ca, "GET", &format!("{url}/{svg_id}"), &[("cookie", &pass)], b"").await;
    assert_eq!(served.header("content-type"), Some("application/octet-stream"));
    assert!(served.header("content-disposition").is_some_and(|d| d.starts_with("attachment")));
    let no_thumb =
        https_request(web, &ca, "GET", &format!("{url}/{svg_id}/thumb"), &[("cookie", &pass)], b"")
            .await;
    assert_eq!(no_thumb.status, 404);

    // A picture bomb (65 bytes announcing 100,000 x 100,000 pixels): kept as the bytes it is,
    // but no thumbnail is attempted past its header.
    let bomb = chatterbox_server::thumbs::header_only_png(100_000, 100_000);
    let post_bomb = format!(
        "{url}/upload?name=bomb.png&size={}&sha256={}&to=ALL&offset=0",
        bomb.len(),
        sha256(&bomb)
    );
    let posted = https_request(web, &ca, "POST", &post_bomb, &[("cookie", &pass)], &bomb).await;
    assert_eq!(posted.status, 200);
    let bomb_id = ws_file(&mut ann_ws, "bomb.png").await;
    let thumb_path = format!("{url}/{bomb_id}/thumb");
    let refused = https_request(web, &ca, "GET", &thumb_path, &[("cookie", &pass)], b"").await;
    assert_eq!(refused.status, 422);
    assert!(String::from_utf8_lossy(&refused.body).contains("larger than thumbnails are made of"));

    // Bytes that are not the announced ones, and a wrong offset: refused, nothing kept.
    let liar = format!(
        "{url}/upload?name=x.bin&size={}&sha256={}&to=ALL&offset=0",
        doc.len(),
        sha256(&picture)
    );
    let refused = https_request(web, &ca, "POST", &liar, &[("cookie", &pass)], &doc).await;
    assert_eq!(refused.status, 400);
    assert!(String::from_utf8_lossy(&refused.body).contains("do not match"));
    let later =
        format!("{url}/upload?name=y.bin&size=10&sha256={}&to=ALL&offset=5", sha256(b"0123456789"));
    let conflict = https_request(web, &ca, "POST", &later, &[("cookie", &pass)], b"56789").await;
    assert_eq!((conflict.status, conflict.body.as_slice()), (409, b"0".as_slice()), "go on from 0");
    let cancel = format!("{url}/upload?sha256={}", sha256(b"0123456789"));
    assert_eq!(
        https_request(web, &ca, "DELETE", &cancel, &[("cookie", &pass)], b"").await.status,
        204
    );
    assert_eq!(partials(&dirs), Vec::<String>::new());

    // The pass ends with its WebSocket.
    drop(ann_ws);
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let after =
            https_request(web, &ca, "GET", &format!("{url}/{id}"), &[("cookie", &pass)], b"").await;
        if after.status == 404 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the pass outlived its WebSocket");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
