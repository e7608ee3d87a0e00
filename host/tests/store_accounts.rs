//! Accounts, sessions, sign-in throttling and the audit log, on both
//! database backends.

mod common;

use cube_host::store::audit::AuditEvent;
use cube_host::store::sessions::{IDLE_TIMEOUT_MS, MAX_FAILURES_PER_USER, MAX_LIFETIME_MS};
use cube_host::store::users::{Role, UserError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_authenticate_with_their_password_only() {
    common::each_backend(|store| async move {
        let ada = store
            .create_user("ada", "analytical engine 1843", Role::Admin)
            .await
            .unwrap();
        assert_eq!(ada.role, Role::Admin);
        assert!(matches!(
            store
                .create_user("ada", "another long password", Role::Viewer)
                .await,
            Err(UserError::Taken(_))
        ));
        assert!(matches!(
            store.create_user("bob", "short", Role::Viewer).await,
            Err(UserError::Invalid(_))
        ));
        let found = store
            .authenticate("ada", "analytical engine 1843")
            .await
            .unwrap();
        assert_eq!(found.unwrap().id, ada.id);
        assert!(
            store
                .authenticate("ada", "difference engine")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .authenticate("nobody", "analytical engine 1843")
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(store.count_users().await.unwrap(), 1);
        assert_eq!(store.count_local_admins_except(0).await.unwrap(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_live_until_idle_expiry_logout_or_the_user_goes() {
    common::each_backend(|store| async move {
        let user = store
            .create_user("grace", "cobol compiler 1959", Role::Viewer)
            .await
            .unwrap();
        let token = store.create_session(&user).await.unwrap();
        let session = store.session(&token).await.unwrap().expect("live session");
        assert_eq!(session.user.username, "grace");
        assert!(session.csrf_token.len() >= 40);
        assert!(store.session("forged-token").await.unwrap().is_none());

        // Idle for longer than the timeout: gone.
        store
            .age_sessions_for_tests(IDLE_TIMEOUT_MS + 1)
            .await
            .unwrap();
        assert!(store.session(&token).await.unwrap().is_none());

        // Past the absolute lifetime, even if used: gone.
        let token = store.create_session(&user).await.unwrap();
        store.age_sessions_for_tests(MAX_LIFETIME_MS).await.unwrap();
        assert!(store.session(&token).await.unwrap().is_none());

        // Signing out everywhere ends every session.
        let one = store.create_session(&user).await.unwrap();
        let two = store.create_session(&user).await.unwrap();
        assert_eq!(store.end_sessions_of(user.id).await.unwrap(), 2);
        assert!(store.session(&one).await.unwrap().is_none());
        assert!(store.session(&two).await.unwrap().is_none());

        // Deleting the user ends their sessions.
        let token = store.create_session(&user).await.unwrap();
        assert!(store.delete_user(user.id).await.unwrap());
        assert!(store.session(&token).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_throttle_sign_ins() {
    common::each_backend(|store| async move {
        assert!(
            store
                .login_throttle("ada", "10.0.0.1")
                .await
                .unwrap()
                .is_none()
        );
        for _ in 0..MAX_FAILURES_PER_USER {
            store.record_failed_login("ada", "10.0.0.1").await.unwrap();
        }
        let throttled = store
            .login_throttle("ada", "10.0.0.2")
            .await
            .unwrap()
            .unwrap();
        assert!(throttled.retry_after_ms > 0);
        // Another user from another address is not affected.
        assert!(
            store
                .login_throttle("bob", "10.0.0.3")
                .await
                .unwrap()
                .is_none()
        );
        store.clear_failed_logins("ada").await.unwrap();
        assert!(
            store
                .login_throttle("ada", "10.0.0.2")
                .await
                .unwrap()
                .is_none()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_keeps_who_what_and_the_change() {
    common::each_backend(|store| async move {
        store
            .audit(AuditEvent {
                actor: "ada",
                action: "user.create",
                target: "user:grace",
                before: None,
                after: Some(serde_json::json!({"username": "grace", "role": "viewer"})),
                remote: Some("127.0.0.1"),
            })
            .await
            .unwrap();
        store
            .audit(AuditEvent {
                actor: "ada",
                action: "user.delete",
                target: "user:grace",
                before: Some(serde_json::json!({"username": "grace"})),
                after: None,
                remote: None,
            })
            .await
            .unwrap();
        let entries = store.audit_entries(10).await.unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].action, "user.delete", "newest first");
        assert_eq!(entries[1].after.as_ref().unwrap()["role"], "viewer");
        assert_eq!(entries[1].remote.as_deref(), Some("127.0.0.1"));
    })
    .await;
}
