//! `/integrations/{id}/events`: the progress of an integration's running
//! sync as server-sent events, for the detail page's live view
//! (`/static/live.js`). Without JavaScript the page refreshes itself instead.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures_util::stream::{self, Stream};
use tokio::sync::broadcast::error::RecvError;

use super::super::AppState;
use super::super::error::Error;
use super::super::session::SignedIn;
use super::find;

pub fn routes() -> Router<AppState> {
    Router::new().route("/integrations/{id}/events", get(events))
}

async fn events(
    State(state): State<AppState>,
    _signed_in: SignedIn,
    Path(id): Path<i64>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Error> {
    find(&state, id).await?;
    let receiver = state.sync.events.subscribe();
    let stream = stream::unfold(receiver, move |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(progress) if progress.integration_id == id => {
                    let event = Event::default()
                        .event("progress")
                        .json_data(&progress)
                        .unwrap_or_else(|_| Event::default().comment("unserialisable"));
                    return Some((Ok(event), receiver));
                }
                Ok(_) => continue,
                // A slow listener skips steps; the next one has the totals.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
