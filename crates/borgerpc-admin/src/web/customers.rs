//! (being written)

use super::Web;
use axum::Router;

pub(super) fn routes() -> Router<Web> {
    Router::new()
}
