//! What a connector id may be: the name of its folder, its package file
//! and its crate, so the marketplace, the author's tools and the admin UI
//! check it the same way.

/// Connector ids: lowercase letters, digits and dashes, not starting with
/// a dash, at most 64 bytes.
pub fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_lowercase_words_with_dashes() {
        assert!(is_id("active-directory"));
        assert!(is_id("jira2"));
        assert!(!is_id(""));
        assert!(!is_id("-x"));
        assert!(!is_id("Jira"));
        assert!(!is_id("a/b"));
        assert!(!is_id(&"a".repeat(65)));
    }
}
