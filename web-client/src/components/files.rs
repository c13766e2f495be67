//! Files in the page (extension `files`): a shared picture shows as its thumbnail (the
//! original opens on click), any other file as a card to download; files are sent by the
//! Attach button, by dropping them on the page, or by pasting them into the composer, each
//! with a progress bar and a Cancel button.
//!
//! The bytes go over HTTPS, not the WebSocket: a `POST` to the path the server gave this
//! page's connection (`FILES_URL`), which the connection's cookie opens and nothing else
//! does. The page computes the file's SHA-256 first (the server checks the bytes against it).

use std::cell::RefCell;
use std::collections::HashMap;

use js_sys::wasm_bindgen::JsCast;
use js_sys::wasm_bindgen::closure::Closure;
use leptos::prelude::*;
use shared::frame::FileRef;
use web_sys::{File, ProgressEvent, XmlHttpRequest};

use crate::state::Model;

thread_local! {
    /// The requests of the uploads under way, by their number, for Cancel: the request, and
    /// the address that drops what the server received of it.
    static REQUESTS: RefCell<HashMap<u64, (XmlHttpRequest, String)>> = RefCell::new(HashMap::new());
}

/// The kinds the server shows inline (and makes thumbnails of).
fn is_picture(kind: &str) -> bool {
    matches!(kind, "image/png" | "image/jpeg" | "image/gif" | "image/webp")
}

/// The file of message `id`, under the message that shares it.
pub(super) fn card(model: RwSignal<Model>, id: i64, file: FileRef) -> impl IntoView {
    let base = model.with_untracked(|m| m.files_url.clone());
    let Some(base) = base else {
        let text = format!("{} ({})", file.name, shared::size::human_size(file.size));
        return view! { <div class="file-card" data-test="file">{text}</div> }.into_any();
    };
    let original = format!("{base}/{id}");
    let size = shared::size::human_size(file.size);
    if is_picture(&file.kind) {
        let thumb = format!("{original}/thumb");
        view! {
            <div class="file-card picture" data-test="file">
                <a href=original.clone() target="_blank" rel="noopener noreferrer" data-test="original">
                    <img src=thumb alt=file.name.clone() loading="lazy" data-test="thumb" />
                </a>
                <span class="file-name">{file.name.clone()} " (" {size} ")"</span>
            </div>
        }
        .into_any()
    } else {
        view! {
            <div class="file-card" data-test="file">
                <a href=original download=file.name.clone() data-test="download">
                    "⬇ " {file.name.clone()}
                </a>
                <span class="file-size">" " {size} " · " {file.kind.clone()}</span>
            </div>
        }
        .into_any()
    }
}

/// Sends `file` to where the user writes now.
pub(super) fn upload(model: RwSignal<Model>, file: File) {
    let Some(base) = model.with_untracked(|m| m.files_url.clone()) else {
        model.update(|m| {
            let id = m.upload_started(file.name(), file.size());
            m.upload_ended(id, Some("This server does not take files.".into()));
        });
        return;
    };
    let to = model.with_untracked(Model::file_dest);
    let name = file.name();
    let size = file.size();
    let id = model.try_update(|m| m.upload_started(name.clone(), size)).unwrap_or_default();
    leptos::task::spawn_local(async move {
        let sha = match sha256(&file).await {
            Ok(sha) => sha,
            Err(why) => return model.update(|m| m.upload_ended(id, Some(why))),
        };
        // Cancelled while its hash was being computed: it never starts.
        if !model.with_untracked(|m| m.uploads.iter().any(|u| u.id == id)) {
            return;
        }
        let query = format!(
            "name={}&size={}&sha256={sha}&to={}&offset=0",
            encode(&name),
            size as u64,
            encode(&to)
        );
        let drop = format!("{base}/upload?sha256={sha}");
        if let Err(why) = post(model, id, &format!("{base}/upload?{query}"), drop, &file) {
            model.update(|m| m.upload_ended(id, Some(why)));
        }
    });
}

/// Stops upload `id` and has the server drop what it received of it.
pub(super) fn cancel(model: RwSignal<Model>, id: u64) {
    if let Some((xhr, drop)) = REQUESTS.with(|r| r.borrow_mut().remove(&id)) {
        let _ = xhr.abort();
        if let Ok(delete) = XmlHttpRequest::new()
            && delete.open("DELETE", &drop).is_ok()
        {
            let _ = delete.send();
        }
    }
    model.update(|m| m.upload_ended(id, None));
}

/// The SHA-256 of `file`, in hex.
async fn sha256(file: &File) -> Result<String, String> {
    use leptos::__reexports::wasm_bindgen_futures::JsFuture;
    let failed = |_| "The file could not be read.".to_owned();
    let bytes = JsFuture::from(file.array_buffer()).await.map_err(failed)?;
    let crypto = web_sys::window().and_then(|w| w.crypto().ok()).ok_or("No crypto here.")?;
    let digest = crypto
        .subtle()
        .digest_with_str_and_buffer_source("SHA-256", &bytes.unchecked_into::<js_sys::Object>())
        .map_err(failed)?;
    let digest = JsFuture::from(digest).await.map_err(failed)?;
    let bytes = js_sys::Uint8Array::new(&digest).to_vec();
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Starts the `POST` of upload `id`; its progress and end update the model.
fn post(
    model: RwSignal<Model>,
    id: u64,
    url: &str,
    drop: String,
    file: &File,
) -> Result<(), String> {
    let failed = |_| "The upload could not start.".to_owned();
    let xhr = XmlHttpRequest::new().map_err(failed)?;
    xhr.open("POST", url).map_err(failed)?;
    let progress = Closure::<dyn FnMut(ProgressEvent)>::new(move |e: ProgressEvent| {
        model.update(|m| m.upload_progress(id, e.loaded()));
    });
    xhr.upload().map_err(failed)?.set_onprogress(Some(progress.as_ref().unchecked_ref()));
    progress.forget();
    let done = {
        let xhr = xhr.clone();
        Closure::<dyn FnMut()>::new(move || {
            REQUESTS.with(|r| r.borrow_mut().remove(&id));
            let status = xhr.status().unwrap_or(0);
            let error = (status != 200).then(|| {
                xhr.response_text().ok().flatten().unwrap_or_else(|| format!("HTTP {status}"))
            });
            model.update(|m| m.upload_ended(id, error));
        })
    };
    xhr.set_onload(Some(done.as_ref().unchecked_ref()));
    done.forget();
    let broken = Closure::<dyn FnMut()>::new(move || {
        if REQUESTS.with(|r| r.borrow_mut().remove(&id)).is_some() {
            model.update(|m| m.upload_ended(id, Some("The upload was interrupted.".into())));
        }
    });
    xhr.set_onerror(Some(broken.as_ref().unchecked_ref()));
    broken.forget();
    xhr.send_with_opt_blob(Some(file)).map_err(failed)?;
    REQUESTS.with(|r| r.borrow_mut().insert(id, (xhr, drop)));
    Ok(())
}

/// `text` percent-encoded for a query.
fn encode(text: &str) -> String {
    String::from(js_sys::encode_uri_component(text))
}

/// The uploads under way, with their progress and a Cancel button each.
#[component]
pub(super) fn Uploads(model: RwSignal<Model>) -> impl IntoView {
    let uploads = Memo::new(move |_| model.with(|m| m.uploads.clone()));
    view! {
        <ul class="uploads" data-test="uploads">
            <For each=move || uploads.get() key=|u| (u.id, u.sent as u64, u.error.clone()) let:u>
                {
                    let id = u.id;
                    let label = match &u.error {
                        Some(why) => format!("{}: {why}", u.name),
                        None => format!("Sending {}", u.name),
                    };
                    view! {
                        <li class:failed=u.error.is_some() data-test="upload">
                            <span>{label}</span>
                            <progress max=u.total value=u.sent></progress>
                            <button type="button" on:click=move |_| cancel(model, id)
                                    data-test="cancel-upload">
                                {if u.error.is_some() { "Dismiss" } else { "Cancel" }}
                            </button>
                        </li>
                    }
                }
            </For>
        </ul>
    }
}

/// Every file of a drop or a paste.
pub(super) fn files_of(list: Option<web_sys::FileList>) -> Vec<File> {
    let Some(list) = list else { return Vec::new() };
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}
