//! The rooms (extension `rooms`): a list of buttons, the main room ("everyone") and each room
//! the user is in with its unread count, the one shown marked with `aria-current`; a field to
//! join a room; and above the room's messages its name, topic, who is online and "leave".
//! Nothing shows when the server does not offer rooms.

use futures_channel::mpsc;
use leptos::prelude::*;
use shared::limits::MAX_ROOM_CHARS;

use super::send;
use crate::outbox::Out;
use crate::state::{Model, RoomTab};

/// The room list, the join field and the head of the room shown.
#[component]
pub fn Rooms(
    /// The page's state.
    model: RwSignal<Model>,
    /// Where frames go.
    tx: StoredValue<mpsc::Sender<Out>>,
) -> impl IntoView {
    let list = Memo::new(move |_| model.with(Model::room_list));
    let names = move || list.with(|l| l.iter().map(|t| t.room.clone()).collect::<Vec<_>>());
    let row = move |room: Option<String>| {
        let r = room.clone();
        let tab = Memo::new(move |_| list.with(|l| l.iter().find(|t| t.room == r).cloned()));
        let get = move |f: fn(&RoomTab) -> usize| tab.with(|t| t.as_ref().map_or(0, f));
        let current = move || tab.with(|t| t.as_ref().is_some_and(|t| t.current));
        let label = tab.with_untracked(|t| t.as_ref().map(|t| t.label.clone())).unwrap_or_default();
        let shown = label.clone();
        view! {
            <li>
                <button type="button" class="room" data-test="room" data-room=label.clone()
                        data-unread=move || get(|t| t.unread).to_string()
                        aria-current=move || current().then_some("true")
                        on:click=move |_| model.update(|m| m.switch(room.as_deref()))>
                    {shown}
                    <Show when=move || get(|t| t.unread) != 0>
                        " "
                        <span class="badge">
                            {move || get(|t| t.unread)}
                            <span class="visually-hidden">" unread"</span>
                        </span>
                    </Show>
                </button>
            </li>
        }
    };
    view! {
        <Show when=move || list.with(|l| !l.is_empty())>
            <div class="rooms-area">
                <nav class="rooms" aria-label="Rooms" data-test="rooms">
                    <ul class="room-list">
                        <For each=names key=|room| room.clone() children=row />
                    </ul>
                    <JoinRoom model tx />
                </nav>
                <RoomHead model tx />
            </div>
        </Show>
    }
}

/// The field that joins a room (`#rust` or `rust`), or shows it if the user is in it.
#[component]
fn JoinRoom(model: RwSignal<Model>, tx: StoredValue<mpsc::Sender<Out>>) -> impl IntoView {
    let typed = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match model.try_update(|m| m.join_room(&typed.get_untracked())) {
            Some(Ok(join)) => {
                if let Some(join) = join {
                    send(tx, model, Out::Frame(Box::new(join)));
                }
                typed.set(String::new());
                error.set(None);
            }
            Some(Err(e)) => error.set(Some(e)),
            None => {}
        }
    };
    // a room's name and its `#`
    let longest = (MAX_ROOM_CHARS + 1).to_string();
    view! {
        <form class="join-room" on:submit=submit>
            <label for="join-room" class="visually-hidden">"Join a room"</label>
            <input id="join-room" autocomplete="off" placeholder="#room" data-test="join-room"
                maxlength=longest
                prop:value=move || typed.get()
                on:input=move |ev| typed.set(event_target_value(&ev)) />
            <button type="submit">"Join"</button>
            <Show when=move || error.with(Option::is_some)>
                <p class="error" role="alert" data-test="join-error">{move || error.get().unwrap_or_default()}</p>
            </Show>
        </form>
    }
}

/// Above a room's messages: its name, topic, members online, and leaving it.
#[component]
fn RoomHead(model: RwSignal<Model>, tx: StoredValue<mpsc::Sender<Out>>) -> impl IntoView {
    let head = Memo::new(move |_| model.with(Model::room_head));
    let leave = move |_| {
        if let Some(part) = model.with_untracked(Model::part) {
            send(tx, model, Out::Frame(Box::new(part)));
        }
    };
    let text = move |f: fn(&crate::state::RoomHead) -> String| {
        move || head.with(|h| h.as_ref().map(f).unwrap_or_default())
    };
    view! {
        <Show when=move || head.with(Option::is_some)>
            <div class="room-head" data-test="room-head">
                <h2>{text(|h| h.name.clone())}</h2>
                <span class="topic" data-test="topic"
                      class:hint=move || head.with(|h| h.as_ref().is_some_and(|h| h.topic.is_none()))>
                    {text(|h| h.topic.clone().unwrap_or_else(|| "No topic".into()))}
                </span>
                <span class="hint">
                    {text(|h| {
                        let open = if h.invite_only { " · invite-only" } else { "" };
                        format!("{} online{open}", h.online)
                    })}
                </span>
                <button type="button" data-test="part" on:click=leave>"Leave"</button>
            </div>
        </Show>
    }
}
