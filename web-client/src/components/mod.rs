//! The views. Each reads the [`Model`] signal and reports what the user did; none holds state
//! of its own beyond what the DOM needs.

mod composer;
mod login;
mod messages;
mod users;

use futures_channel::mpsc;
use leptos::prelude::*;

use crate::conn::{self, Out};
use crate::state::{Link, Model, Phase};

/// Sends a frame, showing an error if the connection's queue is full.
pub(crate) fn send(tx: &StoredValue<mpsc::Sender<Out>>, model: RwSignal<Model>, out: Out) {
    let full = tx.with_value(|tx| tx.clone().try_send(out).is_err());
    if full {
        model.update(|m| m.unreadable("too much to send at once; please wait a moment"));
    }
}

/// The local time of a Unix timestamp, `HH:MM:SS` (with the date if not today).
pub(crate) fn clock(ts: i64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen_value(ts as f64 * 1000.0));
    let today = js_sys::Date::new_0();
    let time = format!("{:02}:{:02}:{:02}", d.get_hours(), d.get_minutes(), d.get_seconds());
    if d.to_date_string() == today.to_date_string() {
        time
    } else {
        format!("{}-{:02}-{:02} {time}", d.get_full_year(), d.get_month() + 1, d.get_date())
    }
}

fn wasm_bindgen_value(v: f64) -> js_sys::wasm_bindgen::JsValue {
    js_sys::wasm_bindgen::JsValue::from_f64(v)
}

/// A CSS class for a user's colour: the same for a name everywhere.
pub(crate) fn color_class(name: &str) -> String {
    let hash =
        name.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    format!("c{}", hash % 8)
}

/// The whole page.
#[component]
pub fn App() -> impl IntoView {
    let model = RwSignal::new(Model::default());
    let tx = StoredValue::new(conn::start(model));
    let status = move || {
        model.with(|m| match &m.link {
            Link::Connecting => ("connecting", "Connecting…".to_owned()),
            Link::Open if m.phase == Phase::Chat => {
                ("online", format!("Connected as {}", m.chat.me.clone().unwrap_or_default()))
            }
            Link::Open => ("online", "Connected".to_owned()),
            Link::Retrying(s) => ("offline", format!("Offline — reconnecting in {s:.0} s")),
        })
    };
    view! {
        <header class="top">
            <h1>"Chatterbox"</h1>
            <span class=move || format!("status {}", status().0) role="status" aria-live="polite" data-test="status">
                {move || status().1}
            </span>
        </header>
        <Show
            when=move || model.with(|m| m.phase == Phase::Chat)
            fallback=move || view! { <login::Login model tx /> }
        >
            <main class="chat">
                <messages::Messages model />
                <users::Users model tx />
                <composer::Composer model tx />
            </main>
        </Show>
    }
}
