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

fn wasm_bindgen_value(v: f64) -> js_sys::wasm_bindgen::JsValue {
    js_sys::wasm_bindgen::JsValue::from_f64(v)
}

/// Nickname colour classes in style.css (`.c0` to `.c7`).
const NAME_COLOURS: usize = 8;

/// A CSS class for a user's colour: the same for a name everywhere.
pub(crate) fn color_class(name: &str) -> String {
    format!("c{}", client_core::fmt::colour_index(name, NAME_COLOURS))
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
