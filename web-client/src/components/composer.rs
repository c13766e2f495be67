//! The input line: Enter sends; `@name text` is private; the slash commands work as in the
//! terminal client.

use futures_channel::mpsc;
use leptos::prelude::*;

use super::send;
use crate::conn::Out;
use crate::state::Model;

/// Where messages are typed.
#[component]
pub fn Composer(
    /// The page's state.
    model: RwSignal<Model>,
    /// Where frames go.
    tx: StoredValue<mpsc::Sender<Out>>,
) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let line = text.get_untracked();
        let now = (js_sys::Date::now() / 1000.0) as i64;
        let Some((frame, quit)) = model.try_update(|m| m.submit(&line, now)) else { return };
        text.set(String::new());
        if let Some(frame) = frame {
            send(&tx, model, Out::Frame(Box::new(frame)));
        }
        if quit {
            send(&tx, model, Out::Reconnect);
        }
    };
    view! {
        <form class="composer" on:submit=submit>
            <label for="composer-input" class="visually-hidden">"Message"</label>
            <input
                id="composer-input"
                autocomplete="off"
                placeholder="Message everyone, @name to write privately, /help"
                autofocus
                prop:value=move || text.get()
                on:input=move |ev| text.set(event_target_value(&ev))
                data-test="composer"
            />
            <button type="submit">"Send"</button>
        </form>
    }
}
