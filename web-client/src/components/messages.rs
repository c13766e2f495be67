//! The conversation: local-time stamps, own and private messages marked, joins, leaves and
//! errors inline. Text is always text (never HTML from users). New messages scroll into view
//! unless the user has scrolled up to read; then a marker shows where the new ones start and
//! a button counts them, both gone once the newest is in view.
//!
//! It shows one conversation, the main room's or a room's (the model's `view`). Rows are keyed
//! on the conversation and the entries' ids: a new entry builds one row, the rows never read
//! the conversation again, and another room shown builds its rows anew.

use client_core::chat::Entry;
use futures_channel::mpsc;
use leptos::html::{Div, Input};
use leptos::prelude::*;
use leptos::reactive::computed::Selector;

use super::{clock, iso8601, send};
use crate::outbox::Out;
use crate::palette::nick_class;
use crate::state::{Item, Model};

/// What a row needs besides its entry: the page, to edit and delete, and which message a
/// search jumped to.
#[derive(Clone)]
struct Row {
    model: RwSignal<Model>,
    tx: StoredValue<mpsc::Sender<Out>>,
    composer: NodeRef<Input>,
    highlight: Selector<Option<i64>>,
}

/// How close to the bottom (pixels) still counts as following the conversation.
const BOTTOM_SLACK: i32 = 24;

fn line(
    item: Item,
    me: Option<String>,
    first_unseen: Selector<Option<u64>>,
    row: Row,
) -> impl IntoView {
    let id = item.id;
    let (may_edit, may_delete) = row.model.with_untracked(|m| m.may_change(&item.entry));
    // the selector keeps a signal per id asked about: the row's goes with the row
    on_cleanup({
        let first_unseen = first_unseen.clone();
        move || first_unseen.remove(&Some(id))
    });
    let marker = move || {
        first_unseen
            .selected(&Some(id))
            .then(|| view! { <div class="new-marker" role="separator">"new messages"</div> })
    };
    let body = match item.entry {
        Entry::Message { time, src, dest, text, own, private, edited, id: message_id } => {
            let mut class = String::from("msg");
            if own {
                class.push_str(" own");
            }
            if private {
                class.push_str(" private");
            }
            let to = private.then(|| {
                let shown =
                    if Some(&dest) == me.as_ref() { "you".to_owned() } else { dest.clone() };
                view! { <span class="to">" → " {shown} " (private)"</span> }
            });
            let Row { model, tx, composer, highlight } = row;
            let marked = {
                let highlight = highlight.clone();
                move || message_id.is_some() && highlight.selected(&message_id)
            };
            on_cleanup(move || highlight.remove(&message_id));
            let edit = move |_| {
                if let Some(mid) = message_id {
                    model.update(|m| m.start_edit(mid));
                    if let Some(input) = composer.get_untracked() {
                        let _ = input.focus();
                    }
                }
            };
            let delete = move |_| {
                if let Some(mid) = message_id {
                    let frame = model.with_untracked(|m| m.delete(mid));
                    send(tx, model, Out::Frame(Box::new(frame)));
                }
            };
            view! {
                <div class=class class:highlight=marked data-test="message"
                     data-message-id=message_id.map(|i| i.to_string())>
                    <time datetime=iso8601(time)>{clock(time)}</time>
                    " "
                    <span class=format!("nick {}", nick_class(&src))>{src.clone()}</span>
                    {to}
                    ": "
                    <span class="text">{text}</span>
                    {edited.then(|| view! { <span class="edited">" (edited)"</span> })}
                    {may_edit.then(|| view! {
                        <button type="button" class="act" on:click=edit data-test="edit"
                                aria-label="Edit this message">"Edit"</button>
                    })}
                    {may_delete.then(|| view! {
                        <button type="button" class="act" on:click=delete data-test="delete"
                                aria-label="Delete this message">"Delete"</button>
                    })}
                </div>
            }
            .into_any()
        }
        Entry::Changed { text: Some(text), by, .. } => {
            view! { <div class="event info">{by} " edited a message: " {text}</div> }.into_any()
        }
        Entry::Changed { text: None, by, .. } => {
            view! { <div class="event info">{by} " deleted a message"</div> }.into_any()
        }
        Entry::Found { text } => view! { <div class="event info">{text}</div> }.into_any(),
        Entry::Result { src, text, .. } => {
            view! { <div class="event info">{src} ": " {text}</div> }.into_any()
        }
        Entry::Joined(n) => view! { <div class="event join">"→ " {n} " joined"</div> }.into_any(),
        Entry::Left(n) => view! { <div class="event leave">"← " {n} " left"</div> }.into_any(),
        Entry::Info(t) => view! { <div class="event info">{t}</div> }.into_any(),
        Entry::Error(t) => view! { <div class="event error" role="alert">{t}</div> }.into_any(),
        Entry::List { title, names } => {
            view! { <div class="event info">{client_core::fmt::list(&title, &names)}</div> }
                .into_any()
        }
        Entry::File { id, file, .. } => super::files::card(row.model, id, file).into_any(),
    };
    view! { {marker} {body} }
}

/// The message list.
#[component]
pub fn Messages(
    /// The page's state.
    model: RwSignal<Model>,
    /// Where frames go (an edit's or a delete's).
    tx: StoredValue<mpsc::Sender<Out>>,
    /// The composer's input, which "Edit" focuses.
    composer: NodeRef<Input>,
) -> impl IntoView {
    let pane: NodeRef<Div> = NodeRef::new();
    let rows = Memo::new(move |_| model.with(|m| (m.view(), m.ids())));
    let label = Memo::new(move |_| model.with(|m| format!("Messages: {}", m.writing_to())));
    let following = Memo::new(move |_| model.with(|m| m.following));
    let unseen = Memo::new(move |_| model.with(|m| m.unseen));
    // tells each row whether the marker is on it, waking only the rows it leaves and joins
    let first_unseen = Selector::new(move || model.with(|m| m.first_unseen));
    // the message a search result jumped to: marked, and scrolled to once its row is there
    let highlight = Selector::new(move || model.with(|m| m.highlight));
    let jumped = Memo::new(move |_| model.with(|m| m.highlight));
    Effect::new(move |_| {
        rows.with(|_| ());
        if let (Some(id), Some(el)) = (jumped.get(), pane.get())
            && let Ok(Some(target)) = el.query_selector(&format!("[data-message-id=\"{id}\"]"))
        {
            target.scroll_into_view();
        }
    });
    let row = Row { model, tx, composer, highlight };
    // Follow new messages while the user is at the bottom.
    Effect::new(move |_| {
        // read, not only tracked: a memo computes (and follows the model) once read
        rows.with(|_| ());
        if following.get()
            && let Some(el) = pane.get()
        {
            el.set_scroll_top(el.scroll_height());
        }
    });
    let on_scroll = move |_| {
        if let Some(el) = pane.get_untracked() {
            let at_bottom =
                el.scroll_top() + el.client_height() >= el.scroll_height() - BOTTOM_SLACK;
            if at_bottom != following.get_untracked() {
                model.update(|m| m.scrolled(at_bottom));
            }
        }
    };
    let jump = move |_| {
        model.update(|m| m.scrolled(true));
        if let Some(el) = pane.get_untracked() {
            el.set_scroll_top(el.scroll_height());
        }
    };
    view! {
        <section class="messages-wrap" aria-label=move || label.get()>
            <div class="messages" role="log" aria-live="polite" node_ref=pane on:scroll=on_scroll data-test="messages">
                <For
                    each=move || {
                        let (view, ids) = rows.get();
                        ids.map(move |id| (view, id))
                    }
                    key=|row| *row
                    children=move |(_, id)| {
                        model.with_untracked(|m| {
                            let me = m.chat.me.clone();
                            m.item(id)
                                .cloned()
                                .map(|item| line(item, me, first_unseen.clone(), row.clone()))
                        })
                    }
                />
            </div>
            <Show when=move || unseen.get() != 0>
                <button class="jump" on:click=jump data-test="jump">
                    {move || format!("↓ {} new", unseen.get())}
                </button>
            </Show>
        </section>
    }
}
