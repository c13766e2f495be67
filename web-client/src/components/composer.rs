//! The input line: Enter sends, to the room shown; `@name text` is private; the slash commands
//! work as in the terminal client (`/join #room`, `/part`, `/rooms`, `/room #room`...). What
//! is typed is the model's draft.

use futures_channel::mpsc;
use leptos::html::Input;
use leptos::prelude::*;

use super::send;
use crate::outbox::Out;
use crate::state::Model;

/// Where messages are typed.
#[component]
pub fn Composer(
    /// The page's state.
    model: RwSignal<Model>,
    /// Where frames go.
    tx: StoredValue<mpsc::Sender<Out>>,
    /// The input element, for the side panel to focus.
    composer: NodeRef<Input>,
) -> impl IntoView {
    let draft = Memo::new(move |_| model.with(|m| m.draft.clone()));
    let to = Memo::new(move |_| model.with(Model::writing_to));
    let editing = Memo::new(move |_| model.with(|m| m.editing.is_some()));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let now = (js_sys::Date::now() / 1000.0) as i64;
        let Some((frame, quit)) = model.try_update(|m| m.submit_draft(now)) else { return };
        if let Some(frame) = frame {
            send(tx, model, Out::Frame(Box::new(frame)));
        }
        if quit {
            send(tx, model, Out::Reconnect);
        }
    };
    let picker: NodeRef<leptos::html::Input> = NodeRef::new();
    let picked = move |_| {
        if let Some(input) = picker.get_untracked() {
            for file in super::files::files_of(input.files()) {
                super::files::upload(model, file);
            }
            input.set_value("");
        }
    };
    let pasted = move |ev: leptos::ev::ClipboardEvent| {
        let files = super::files::files_of(ev.clipboard_data().and_then(|d| d.files()));
        if !files.is_empty() {
            ev.prevent_default();
            for file in files {
                super::files::upload(model, file);
            }
        }
    };
    let has_files = Memo::new(move |_| model.with(|m| m.files_url.is_some()));
    view! {
        <form class="composer" class:editing=move || editing.get() on:submit=submit>
            <Show when=move || has_files.get()>
                <label class="attach" title="Send a file (or drop it on the page, or paste it)">
                    "Attach"
                    <input type="file" multiple class="visually-hidden" node_ref=picker
                           on:change=picked data-test="attach" />
                </label>
            </Show>
            <Show when=move || editing.get()>
                <span class="editing-note" data-test="editing">"Editing your message"</span>
                <button type="button" on:click=move |_| model.update(Model::cancel_edit)>
                    "Cancel"
                </button>
            </Show>
            <label for="composer-input" class="visually-hidden">"Message"</label>
            <input
                id="composer-input"
                node_ref=composer
                autocomplete="off"
                placeholder=move || format!("Message {}, @name to write privately, /help", to.get())
                autofocus
                prop:value=move || draft.get()
                on:input=move |ev| model.update(|m| m.draft = event_target_value(&ev))
                on:paste=pasted
                on:keydown=move |ev| {
                    if ev.key() == "Escape" {
                        model.update(Model::cancel_edit);
                    }
                }
                data-test="composer"
            />
            <button type="submit">{move || if editing.get() { "Save" } else { "Send" }}</button>
        </form>
    }
}
