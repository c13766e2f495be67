//! Search (extension `search`): a field (words, `"phrases"`, and the filters `from:name`,
//! `in:#room`, `after:YYYY-MM-DD`, `before:YYYY-MM-DD` as in the terminal client) and the
//! results, newest first, each with the messages around it; picking one shows its
//! conversation with the message marked. Nothing shows when the server does not search.

use futures_channel::mpsc;
use leptos::prelude::*;
use shared::Message;
use shared::limits::MAX_QUERY_CHARS;

use super::{clock, iso8601, send};
use crate::outbox::Out;
use crate::state::Model;

/// The search field and its results.
#[component]
pub fn Search(
    /// The page's state.
    model: RwSignal<Model>,
    /// Where frames go.
    tx: StoredValue<mpsc::Sender<Out>>,
) -> impl IntoView {
    let offered = Memo::new(move |_| model.with(|m| m.chat.granted.search));
    let typed = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match model.try_update(|m| m.search(&typed.get_untracked())) {
            Some(Ok(frame)) => {
                send(tx, model, Out::Frame(Box::new(frame)));
                error.set(None);
            }
            Some(Err(e)) => error.set(Some(e)),
            None => {}
        }
    };
    view! {
        <Show when=move || offered.get()>
            <div class="search-area">
                <form class="search" role="search" on:submit=submit>
                    <label for="search-input" class="visually-hidden">"Search messages"</label>
                    <input id="search-input" type="search" autocomplete="off"
                           maxlength=MAX_QUERY_CHARS.to_string()
                           placeholder="Search: words, \"a phrase\", from:name, in:#room"
                           prop:value=move || typed.get()
                           on:input=move |ev| typed.set(event_target_value(&ev))
                           data-test="search" />
                    <button type="submit">"Search"</button>
                </form>
                <Show when=move || error.with(Option::is_some)>
                    <p class="error" role="alert">{move || error.get()}</p>
                </Show>
                <Results model tx />
            </div>
        </Show>
    }
}

/// The last search's results.
#[component]
fn Results(model: RwSignal<Model>, tx: StoredValue<mpsc::Sender<Out>>) -> impl IntoView {
    let found = Memo::new(move |_| model.with(|m| m.found.clone()));
    let more = move |_| {
        if let Some(Some(frame)) = model.try_update(Model::more) {
            send(tx, model, Out::Frame(Box::new(frame)));
        }
    };
    let heading = move || {
        found.with(|f| {
            f.as_ref().map(|f| match f.results.len() {
                0 => format!("Nothing found for \u{201c}{}\u{201d}", f.query),
                1 => format!("1 result for \u{201c}{}\u{201d}", f.query),
                n => format!("{n} results for \u{201c}{}\u{201d}, newest first", f.query),
            })
        })
    };
    let hits = move || found.with(|f| f.as_ref().map(|f| f.results.clone()).unwrap_or_default());
    view! {
        <Show when=move || found.with(Option::is_some)>
            <section class="results" aria-label="Search results" data-test="results">
                <header>
                    <h2>{heading}</h2>
                    <button type="button" on:click=move |_| model.update(Model::close_search)>
                        "Close"
                    </button>
                </header>
                <ol>
                    <For each=hits key=|hit| hit.message.id children=move |hit| {
                        let target = hit.message.clone();
                        let (before, after): (Vec<Message>, Vec<Message>) =
                            hit.context.into_iter().partition(|m| m.id < target.id);
                        view! {
                            <li>
                                {before.into_iter().map(|m| row(m, "context")).collect_view()}
                                <button type="button" class="hit" data-test="hit"
                                        on:click=move |_| model.update(|m| m.jump(&target))>
                                    {row(hit.message, "found")}
                                </button>
                                {after.into_iter().map(|m| row(m, "context")).collect_view()}
                            </li>
                        }
                    } />
                </ol>
                <Show when=move || found.with(|f| f.as_ref().is_some_and(|f| f.more))>
                    <button type="button" class="more" on:click=more data-test="more">
                        "Older results"
                    </button>
                </Show>
            </section>
        </Show>
    }
}

/// One message of the results: when, where, who and what.
fn row(m: Message, class: &'static str) -> impl IntoView {
    let place = match m.dest.as_str() {
        shared::BROADCAST => String::new(),
        room if room.starts_with('#') => format!("{room} "),
        to => format!("→ {to} "),
    };
    view! {
        <div class=class>
            <time datetime=iso8601(m.timestamp)>{clock(m.timestamp)}</time>
            " " {place} <b>{m.src}</b> ": " <span class="text">{m.content}</span>
        </div>
    }
}
