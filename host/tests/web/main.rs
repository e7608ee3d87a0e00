//! The admin app over real HTTP and in a real browser: pages, forms, the JSON API, sign-in and its edge.
//!
//! One test binary per suite (decision 0034): a change in the host relinks
//! ten binaries, not one per file. Each module is one feature's tests.

mod api;
mod api_routes;
mod api_tokens;
mod auth;
mod browser;
mod deletions;
mod directory;
mod directory_api;
mod directory_changes_api;
mod directory_wizard;
mod edge;
mod integration_secrets;
mod integrations;
mod jira_wizard;
mod login_throttle;
mod schedules;
mod scim;
mod wizard;
mod work_orders;
