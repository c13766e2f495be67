//! The views. Each reads the [`Model`] signal through memos of the part it shows, so that an
//! event re-renders only what it changed, and reports what the user did; none holds state of
//! its own beyond what the DOM needs.

mod account;
mod composer;
mod files;
mod login;
mod messages;
mod rooms;
mod search;
mod users;

use futures_channel::mpsc;
use leptos::html::Input;
use leptos::prelude::*;

use crate::outbox::{self, Out};
use crate::state::{Model, Phase};
use crate::{address, conn, storage};

/// Sends a frame; when the connection's queue is full, the page says it was not sent.
pub(crate) fn send(tx: StoredValue<mpsc::Sender<Out>>, model: RwSignal<Model>, out: Out) {
    if let Some(Err(out)) = tx.try_update_value(|tx| outbox::send(tx, out)) {
        model.update(|m| m.not_sent(out.frame()));
    }
}

/// The local time of a Unix timestamp, `HH:MM:SS` (with the date if not today).
pub(crate) fn clock(ts: i64) -> String {
    let d = date(ts);
    client_core::fmt::clock(local(&d), local(&js_sys::Date::new_0()))
}

/// A browser date in local time, broken down for `client_core::fmt::clock`.
fn local(d: &js_sys::Date) -> client_core::fmt::LocalTime {
    client_core::fmt::LocalTime {
        year: d.get_full_year() as i32,
        month: d.get_month() + 1,
        day: d.get_date(),
        hour: d.get_hours(),
        minute: d.get_minutes(),
        second: d.get_seconds(),
    }
}

/// A Unix timestamp in ISO 8601 (UTC), for `<time datetime>`.
pub(crate) fn iso8601(ts: i64) -> String {
    date(ts).to_iso_string().into()
}

fn date(ts: i64) -> js_sys::Date {
    js_sys::Date::new(&js_sys::wasm_bindgen::JsValue::from_f64(ts as f64 * 1000.0))
}

/// The whole page.
#[component]
pub fn App() -> impl IntoView {
    // A name and token kept from an earlier visit log straight back in.
    let restored = storage::load().map(|(name, token)| Model::restored(name, token));
    let mut start = restored.unwrap_or_default();
    // to the room the address names (before the login: only noted)
    start.navigated(&address::hash());
    let model = RwSignal::new(start);
    let remembered = Memo::new(move |_| model.with(Model::remembered));
    Effect::new(move |_| remembered.with(|kept| storage::save(kept.as_ref())));
    let tx = StoredValue::new(conn::start(model));
    // The address follows the room shown, and the room follows the address when the user
    // changes it (or goes back or forward).
    let hash = Memo::new(move |_| model.with(Model::hash));
    Effect::new(move |_| hash.with(|h| h.as_deref().map(address::set_hash)));
    let listener = window_event_listener(leptos::ev::hashchange, move |_| {
        if let Some(Some(join)) = model.try_update(|m| m.navigated(&address::hash())) {
            send(tx, model, Out::Frame(Box::new(join)));
        }
    });
    on_cleanup(move || listener.remove());
    let status = Memo::new(move |_| model.with(Model::status));
    let in_chat = Memo::new(move |_| model.with(|m| m.phase == Phase::Chat));
    // the composer's input, which picking a name in the side panel focuses
    let composer: NodeRef<Input> = NodeRef::new();
    view! {
        <header class="top">
            <h1>"Chatterbox"</h1>
            <span class=move || format!("status {}", status.with(|s| s.class)) role="status" aria-live="polite" data-test="status">
                {move || status.with(|s| s.text.clone())}
            </span>
        </header>
        <Show
            when=move || in_chat.get()
            fallback=move || view! { <login::Login model tx /> }
        >
            <account::SignedIn model tx />
            <main
                class="chat"
                on:dragover=|ev: leptos::ev::DragEvent| ev.prevent_default()
                on:drop=move |ev: leptos::ev::DragEvent| {
                    ev.prevent_default();
                    let dropped = ev.data_transfer().and_then(|d| d.files());
                    for file in files::files_of(dropped) {
                        files::upload(model, file);
                    }
                }
            >
                <rooms::Rooms model tx />
                <search::Search model tx />
                <messages::Messages model tx composer />
                <users::Users model tx composer />
                <files::Uploads model />
                <composer::Composer model tx composer />
            </main>
        </Show>
    }
}
