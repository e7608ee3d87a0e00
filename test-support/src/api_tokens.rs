//! API tokens for tests, made through the store as the admin page makes
//! them: never expiring, created by `test`, with the scopes and rate limit
//! a test names.

use cube_host::store::Store;
use cube_host::store::api_tokens::{NewToken, Scope, TokenFor};

/// A token to make for `owner`, with 600 requests a minute and no expiry
/// (change fields with `..new_token(...)`).
pub fn new_token<'a>(name: &'a str, owner: TokenFor<'a>, scopes: &[Scope]) -> NewToken<'a> {
    NewToken {
        name,
        owner,
        scopes: scopes.iter().copied().collect(),
        expires_at: None,
        requests_per_minute: 600,
        created_by: "test",
    }
}

/// Makes a personal token of the local user `username`; returns its secret.
pub async fn token_of(
    store: &Store,
    username: &str,
    name: &str,
    scopes: &[Scope],
    requests_per_minute: i64,
) -> String {
    let user = store.user_named(username).await.unwrap().unwrap();
    let new = NewToken {
        requests_per_minute,
        ..new_token(name, TokenFor::User(&user), scopes)
    };
    store.create_api_token(&new).await.unwrap().1
}
