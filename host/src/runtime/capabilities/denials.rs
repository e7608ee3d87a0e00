//! Destinations a connector tried to reach that its grants do not allow.
//!
//! Every refusal is an error the connector sees; this list is for the host:
//! a setup wizard shows exactly what a connection test wanted and offers to
//! grant that, instead of asking the admin to guess grant patterns. The
//! list is shared by the calls of one [`CallContext`](crate::runtime::CallContext).

use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, Default)]
pub struct Denials(Arc<Mutex<Vec<String>>>);

impl Denials {
    /// Notes a refused destination (`scheme://host[:port]`), once.
    pub fn record(&self, destination: String) {
        let mut list = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !list.contains(&destination) {
            list.push(destination);
        }
    }

    /// The refused destinations, in the order they were first refused.
    pub fn list(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
