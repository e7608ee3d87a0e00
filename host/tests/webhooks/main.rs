//! Webhooks in and out: the router, stored deliveries, replay protection, outbound events and the host's own address policy.
//!
//! One test binary per suite (decision 0034): a change in the host relinks
//! ten binaries, not one per file. Each module is one feature's tests.

mod deliveries;
mod directory_events;
mod outbound;
mod outbound_address_policy;
mod replay;
mod router;
