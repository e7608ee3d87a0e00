//! SCIM 2.0 (RFC 7643, RFC 7644): the language SCIM clients such as Entra
//! ID and Okta address resources in.
//!
//! `filter` reads the `filter` query parameter of a list (RFC 7644
//! §3.4.2.2) and the `path` of a PATCH operation (§3.5.2) into trees, and
//! evaluates a filter against a resource in its JSON form, with SCIM's
//! rules: attribute names in any case, multi-valued attributes matching
//! when any value does, strings compared without case unless the
//! attribute is case-exact.

pub mod filter;
