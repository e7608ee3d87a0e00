//! `/integrations/{id}/events`: the progress of an integration's running
//! sync as server-sent events, for the detail page's live view
//! (`/static/live.js`). Without JavaScript the page refreshes itself instead.
//!
//! A stream lives no longer than the session that opened it: every
//! [`SESSION_CHECK`] it asks the store whether the session is still live
//! (without refreshing its idle timer, so an open page alone does not keep
//! a session alive), and ends with a `session-ended` event when it is not:
//! signed out, everywhere or here, expired, or the account removed.

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

/// How often a stream checks that its session is still live.
pub const SESSION_CHECK: Duration = Duration::from_secs(2);

/// What a stream holds between events.
struct Listening {
    receiver: tokio::sync::broadcast::Receiver<crate::sync::Progress>,
    check: tokio::time::Interval,
    store: crate::store::Store,
    token: String,
}

async fn events(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<i64>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Error> {
    find(&state, id).await?;
    let mut check = tokio::time::interval(SESSION_CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let listening = Listening {
        receiver: state.sync.events.subscribe(),
        check,
        store: state.store.clone(),
        token: signed_in.token,
    };
    let stream = stream::unfold(Some(listening), move |listening| async move {
        let mut l = listening?;
        loop {
            tokio::select! {
                received = l.receiver.recv() => match received {
                    Ok(progress) if progress.integration_id == id => {
                        let event = Event::default()
                            .event("progress")
                            .json_data(&progress)
                            .unwrap_or_else(|_| Event::default().comment("unserialisable"));
                        return Some((Ok(event), Some(l)));
                    }
                    Ok(_) => continue,
                    // A slow listener skips steps; the next one has the totals.
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                },
                _ = l.check.tick() => match l.store.session_is_live(&l.token).await {
                    Ok(true) => continue,
                    Ok(false) => {
                        let ended = Event::default().event("session-ended").data("signed out");
                        // The last event: the stream ends after it.
                        return Some((Ok(ended), None));
                    }
                    Err(error) => {
                        tracing::warn!(%error, "live progress: cannot check the session; checking again");
                        continue;
                    }
                },
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
