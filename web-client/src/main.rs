//! Entry point of the browser client (built for wasm32 by Trunk).

#[cfg(target_arch = "wasm32")]
fn main() {
    chatterbox_web::mount();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("The browser client runs in a browser: build it with `trunk build` (see README.md).");
}
