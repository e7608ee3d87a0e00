//! Endpoints by URL token, with their signing secrets opened, kept for a
//! moment.
//!
//! Every delivery needs its endpoint and its secret before anything else.
//! Reading the row and opening the sealed secret for each one costs more
//! than verifying and storing the delivery, so an endpoint found is kept
//! for [`FRESH`]. Changes made on this node (an endpoint removed, an
//! integration deleted) are seen at once ([`Endpoints::forget_all`]);
//! another node sees them within [`FRESH`]. Unknown tokens are not
//! remembered, so random URLs cannot fill the memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::secrets::{Sealer, SecretError};
use crate::store::Store;
use crate::store::webhooks::Webhook;

/// How long an endpoint found is used without reading it again.
pub const FRESH: Duration = Duration::from_secs(2);
/// The most endpoints kept; past it the cache starts over.
const MAX_KEPT: usize = 10_000;

/// An endpoint and its opened signing secret.
pub struct Endpoint {
    pub webhook: Webhook,
    pub secret: Zeroizing<Vec<u8>>,
}

/// Why an endpoint could not be looked up.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("the endpoint's secret cannot be opened: {0}")]
    Secret(#[from] SecretError),
}

/// Endpoints by token, with when each was read.
type Kept = HashMap<String, (Instant, Arc<Endpoint>)>;

/// The endpoints this node has looked up recently. Cheap to clone.
#[derive(Clone)]
pub struct Endpoints {
    store: Store,
    sealer: Arc<Sealer>,
    kept: Arc<Mutex<Kept>>,
}

impl Endpoints {
    pub fn new(store: Store, sealer: Arc<Sealer>) -> Self {
        Self {
            store,
            sealer,
            kept: Arc::default(),
        }
    }

    /// The endpoint with this token, if there is one.
    pub async fn find(&self, token: &str) -> Result<Option<Arc<Endpoint>>, LookupError> {
        if let Some((found_at, endpoint)) = self.kept.lock().expect("not poisoned").get(token)
            && found_at.elapsed() < FRESH
        {
            return Ok(Some(endpoint.clone()));
        }
        let Some(webhook) = self.store.webhook_by_token(token).await? else {
            self.kept.lock().expect("not poisoned").remove(token);
            return Ok(None);
        };
        let secret = super::open_secret(&self.sealer, &webhook)?;
        let endpoint = Arc::new(Endpoint { webhook, secret });
        let mut kept = self.kept.lock().expect("not poisoned");
        if kept.len() >= MAX_KEPT {
            kept.clear();
        }
        kept.insert(token.to_owned(), (Instant::now(), endpoint.clone()));
        Ok(Some(endpoint))
    }

    /// Forgets every endpoint kept: after an endpoint or an integration is
    /// removed or changed here.
    pub fn forget_all(&self) {
        self.kept.lock().expect("not poisoned").clear();
    }
}
