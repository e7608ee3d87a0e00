//! API tokens and service accounts on both backends: names unique among
//! live tokens, a token acting for exactly one principal, last use written
//! sparingly, and an owner who cannot vanish from under a service account.

use cube_test_support as common;

use common::api_tokens::new_token;

use cube_host::store::api_tokens::{NewToken, Scope, TokenError, TokenFor, TokenOwner};
use cube_host::store::users::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_name_is_unique_for_its_principal_and_revoking_frees_it() {
    common::each_backend(|store| async move {
        let alice = store
            .create_user("alice", "a long password here", Role::Admin)
            .await
            .unwrap();
        let bob = store
            .create_user("bob", "a long password here", Role::Admin)
            .await
            .unwrap();
        let token = |name, user| new_token(name, TokenFor::User(user), &[Scope::Read]);
        let (first, _) = store.create_api_token(&token("ci", &alice)).await.unwrap();
        assert!(matches!(
            store.create_api_token(&token("ci", &alice)).await,
            Err(TokenError::Taken(name)) if name == "ci"
        ));
        // Another principal may use the name.
        store.create_api_token(&token("ci", &bob)).await.unwrap();
        store.revoke_api_token(first.id, "alice").await.unwrap();
        let (again, secret) = store.create_api_token(&token("ci", &alice)).await.unwrap();
        assert_ne!(again.id, first.id);

        // Whose, and only theirs.
        let alices = store.api_tokens(Some(alice.id)).await.unwrap();
        assert_eq!(alices.len(), 2);
        assert!(alices.iter().all(|t| t.owner
            == TokenOwner::User {
                id: alice.id,
                username: "alice".into()
            }));
        assert_eq!(store.api_tokens(None).await.unwrap().len(), 3);

        // A use is recorded, and a second use from the same place within
        // the minute does not write again.
        let used = store
            .authenticate_api_token(&secret, "192.0.2.7")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(used.user.as_ref().map(|u| u.id), Some(alice.id));
        let after_first = store.api_token(again.id).await.unwrap().unwrap();
        assert_eq!(after_first.last_used_from.as_deref(), Some("192.0.2.7"));
        let at = after_first.last_used_at.unwrap();
        store
            .authenticate_api_token(&secret, "192.0.2.7")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(store.api_token(again.id).await.unwrap().unwrap().last_used_at, Some(at));
        // From somewhere else, it does.
        store
            .authenticate_api_token(&secret, "198.51.100.1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            store.api_token(again.id).await.unwrap().unwrap().last_used_from.as_deref(),
            Some("198.51.100.1")
        );

        // A token is nobody's without its principal.
        let orphan = sqlx::query(
            "INSERT INTO api_tokens (name, scopes, token_hash, hint, requests_per_minute, created_by, created_at) \
             VALUES ('x', 'read', 'h', 'cube_pat_', 600, 'test', 0)",
        )
        .execute(store.pool())
        .await;
        assert!(orphan.is_err(), "a token must act for someone");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_account_needs_an_admin_owner_who_then_cannot_be_deleted() {
    common::each_backend(|store| async move {
        let viewer = store
            .create_user("vera", "a long password here", Role::Viewer)
            .await
            .unwrap();
        assert!(matches!(
            store.create_service_account("robot", "", &viewer).await,
            Err(TokenError::Invalid(_))
        ));
        let owner = store
            .create_user("olga", "a long password here", Role::Admin)
            .await
            .unwrap();
        let account = store
            .create_service_account("robot", "Nightly export", &owner)
            .await
            .unwrap();
        assert_eq!(account.owner_name, "olga");
        assert!(matches!(
            store.create_service_account("robot", "", &owner).await,
            Err(TokenError::Taken(_))
        ));
        assert!(matches!(
            store.create_service_account("no spaces", "", &owner).await,
            Err(TokenError::Invalid(_))
        ));
        let (_, secret) = store
            .create_api_token(&NewToken {
                name: "export",
                owner: TokenFor::ServiceAccount(&account),
                scopes: [Scope::DirectoryRead, Scope::Scim].into(),
                expires_at: None,
                requests_per_minute: 60,
                created_by: "olga",
            })
            .await
            .unwrap();
        assert_eq!(
            store.service_accounts_owned_by(owner.id).await.unwrap(),
            ["robot"]
        );
        let refused = store.delete_user(owner.id).await;
        assert!(refused.is_err(), "the owner of a service account stays");
        assert!(store.user(owner.id).await.unwrap().is_some());

        // Deleting the account takes its tokens with it.
        assert!(store.delete_service_account(account.id).await.unwrap());
        assert!(store.api_tokens(None).await.unwrap().is_empty());
        assert!(
            store
                .authenticate_api_token(&secret, "x")
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.delete_user(owner.id).await.unwrap());
    })
    .await;
}
