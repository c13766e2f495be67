//! A PostgreSQL database of the test's own: created fresh under a unique name on the server
//! the environment names, and dropped when the test is done with it, so that runs never
//! collide and leave nothing behind.
//!
//! The server is `CHATTERBOX_TEST_POSTGRES` (a URL of a database to connect to for creating
//! and dropping others), by default `postgres://postgres@127.0.0.1:5432/postgres`: the
//! project's machines and CI run PostgreSQL there. A test that needs it fails with a message
//! saying so when it is not reachable; it is never skipped.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::with_database;

/// The environment variable naming the PostgreSQL server for tests.
pub const ENV: &str = "CHATTERBOX_TEST_POSTGRES";

/// Where tests find PostgreSQL unless [`ENV`] says otherwise.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database created for one test; dropped with it.
#[derive(Debug)]
pub struct TestDb {
    /// The database's URL.
    pub url: String,
    name: String,
    admin: String,
}

/// The admin URL, from the environment or the default.
fn admin_url() -> String {
    std::env::var(ENV).unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

async fn admin() -> tokio_postgres::Client {
    let url = admin_url();
    let (client, conn) =
        tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is needed for this test and is not reachable at {url} ({e}); start it, \
             or set {ENV} to a database URL to create test databases from"
            )
        });
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

impl TestDb {
    /// A fresh, empty database.
    pub async fn new() -> TestDb {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "chatterbox_test_{}_{}_{stamp}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let admin_url = admin_url();
        admin()
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("creating the test database {name} at {admin_url}: {e}"));
        TestDb { url: with_database(&admin_url, &name), name, admin: admin_url }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Dropped from synchronous code, perhaps inside a runtime: a thread of its own with a
        // small runtime of its own.
        let (name, admin_url) = (self.name.clone(), self.admin.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let (client, conn) =
                    tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await.ok()?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .ok()
            })
        });
        let _ = dropped.join();
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_is_replaced_and_the_rest_kept() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t2"),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:5432", "t3"), "postgres://h:5432/t3");
    }
}
