//! Small helpers every room of the host may use. This module depends on
//! nothing else in the crate (the architecture test checks it), so that a
//! helper needed by two rooms never makes one of them reach into the other.

pub mod connector_id;
pub mod constant_time;
