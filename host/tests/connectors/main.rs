//! The bundled SaaS and protocol connectors (Jira, REST, ServiceNow, Slack, SOAP) in the real host, and the vendor-contract fakes they talk to.
//!
//! One test binary per suite (decision 0034): a change in the host relinks
//! ten binaries, not one per file. Each module is one feature's tests.

mod fake_jira;
mod fake_jira_data_center;
mod fake_jira_remote_side;
mod fake_jira_search;
mod fake_jira_spec_and_faults;
mod jira;
mod rest_auth;
mod rest_push;
mod rest_sync;
mod servicenow;
mod slack;
mod soap;
mod vendor_clients;
