//! What the report tests share: local dates reckoned by chrono-tz (the tests' own reckoning,
//! not the code under test's), and API users with a role, logged in.

use super::Portal;
use super::web::PASSWORD;
use chrono::{NaiveDate, TimeZone};
use chrono_tz::Europe::Copenhagen;
use serde_json::{Value, json};

/// Runs `statements` (bulk SQL that writes rows around the store, as the bench does), counts
/// the reports' roll-ups from the rows, and returns the first PC's id (the statements' PCs are
/// numbered from it in the order they were written).
pub(crate) async fn written_in_bulk(portal: &Portal, statements: Vec<String>) -> i64 {
    let store = &portal.store;
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(store.pool())
            .await
            .unwrap();
    }
    store.rebuild_report_rollups().await.unwrap();
    sqlx::query_scalar("SELECT MIN(id) FROM pcs")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// A quarter hour in milliseconds: the check-in history's resolution.
pub(crate) const QUARTER: i64 = 900_000;

pub(crate) fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// When a local date begins in Copenhagen (Unix ms).
pub(crate) fn midnight(d: NaiveDate) -> i64 {
    Copenhagen
        .from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap())
        .single()
        .unwrap()
        .timestamp_millis()
}

/// A GET of the JSON API with a bearer token, which must answer 200.
pub(crate) async fn api(portal: &Portal, token: &str, path: &str) -> Value {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", portal.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

/// A user with one role (or a superuser, for `None`), logged in through the API: the session
/// token.
pub(crate) async fn api_user(
    portal: &Portal,
    name: &str,
    role: Option<(&str, Option<i64>)>,
) -> String {
    let u = portal
        .store
        .add_user(
            name,
            &format!("{name}@kommune.dk"),
            PASSWORD,
            role.is_none(),
        )
        .await
        .unwrap();
    if let Some((role, customer)) = role {
        portal
            .store
            .add_membership(u.id, role, customer, None)
            .await
            .unwrap();
    }
    let r = reqwest::Client::new()
        .post(format!("{}/api/auth/login", portal.url))
        .json(&json!({"username": name, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "login {name}");
    r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}
