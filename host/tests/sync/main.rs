//! The sync engine: jobs, pages, pushes of work orders and comments, and recovery of real `cube serve` processes killed mid-work.
//!
//! One test binary per suite (decision 0034): a change in the host relinks
//! ten binaries, not one per file. Each module is one feature's tests.

mod crash_recovery;
mod engine;
mod work_order_comments_push;
mod work_order_push;
