pub async fn run(_a: crate::args::Args) -> u8 {
    0
}
