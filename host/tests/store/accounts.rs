//! Accounts, sessions, sign-in throttling and the audit log, on both
//! database backends.

use cube_test_support as common;

use cube_host::store::audit::AuditEvent;
use cube_host::store::login_attempts::{Admission, LoginPolicy};
use cube_host::store::sessions::{IDLE_TIMEOUT_MS, MAX_LIFETIME_MS};
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

fn admitted(admission: Admission) -> bool {
    admission == Admission::Admitted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_are_throttled_per_account_and_source() {
    common::each_backend(|store| async move {
        let policy = LoginPolicy::default();
        for _ in 0..policy.free_failures {
            let admission = store.admit_login("ada", "10.0.0.1", &policy).await.unwrap();
            assert!(admitted(admission));
        }
        let Admission::Throttled { retry_after_ms } =
            store.admit_login("ada", "10.0.0.1", &policy).await.unwrap()
        else {
            panic!("the sixth attempt is throttled");
        };
        assert!(retry_after_ms > 0 && retry_after_ms <= policy.first_backoff_ms);
        // Refused attempts are not counted.
        assert_eq!(
            store
                .login_attempts("ada", "10.0.0.1")
                .await
                .unwrap()
                .unwrap()
                .0,
            policy.free_failures
        );
        // The account is not locked for other sources, nor the source for
        // other accounts (below its own limit).
        assert!(admitted(
            store.admit_login("ada", "10.0.0.2", &policy).await.unwrap()
        ));
        assert!(admitted(
            store.admit_login("bob", "10.0.0.1", &policy).await.unwrap()
        ));
        // A success starts the pair from zero.
        store
            .login_succeeded("ada", "10.0.0.2", &policy)
            .await
            .unwrap();
        assert_eq!(store.login_attempts("ada", "10.0.0.2").await.unwrap(), None);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_attempts_are_counted_atomically() {
    common::each_backend(|store| async move {
        let policy = LoginPolicy::default();
        let mut attempts = tokio::task::JoinSet::new();
        for _ in 0..40 {
            let store = store.clone();
            attempts.spawn(async move {
                store
                    .admit_login("admin", "10.0.0.9", &policy)
                    .await
                    .unwrap()
            });
        }
        let mut admitted_count = 0;
        while let Some(admission) = attempts.join_next().await {
            admitted_count += admitted(admission.unwrap()) as i64;
        }
        assert_eq!(admitted_count, policy.free_failures);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backoff_doubles_after_the_free_attempts() {
    common::each_backend(|store| async move {
        let policy = LoginPolicy {
            free_failures: 2,
            first_backoff_ms: 300,
            max_backoff_ms: 1_200,
            ..LoginPolicy::default()
        };
        let mut blocks = Vec::new();
        for _ in 0..6 {
            loop {
                match store.admit_login("eve", "10.0.0.7", &policy).await.unwrap() {
                    Admission::Admitted => break,
                    Admission::Throttled { retry_after_ms } => {
                        tokio::time::sleep(std::time::Duration::from_millis(
                            retry_after_ms as u64 + 10,
                        ))
                        .await
                    }
                }
            }
            let (failures, until) = store
                .login_attempts("eve", "10.0.0.7")
                .await
                .unwrap()
                .unwrap();
            let blocked = (until - cube_host::store::now_millis()).max(0);
            blocks.push((failures, blocked));
        }
        let expected = [0, 300, 600, 1_200, 1_200, 1_200];
        for ((failures, blocked), want) in blocks.iter().zip(expected) {
            assert_eq!(policy.backoff_ms(*failures, 2), want);
            assert!(
                *blocked <= want && *blocked + 150 >= want,
                "{blocks:?} (failures, ms blocked) should follow {expected:?}"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_source_may_try_only_so_many_accounts() {
    common::each_backend(|store| async move {
        let policy = LoginPolicy::default();
        for n in 0..policy.free_failures_per_source {
            let account = format!("user{n}");
            assert!(admitted(
                store
                    .admit_login(&account, "10.0.0.5", &policy)
                    .await
                    .unwrap()
            ));
        }
        assert!(!admitted(
            store
                .admit_login("another", "10.0.0.5", &policy)
                .await
                .unwrap()
        ));
        assert!(admitted(
            store
                .admit_login("another", "10.0.0.6", &policy)
                .await
                .unwrap()
        ));
        // A success takes its own attempt back from the source's count.
        store
            .login_succeeded("user0", "10.0.0.6", &policy)
            .await
            .unwrap();
        let (failures, _) = store.login_attempts("", "10.0.0.6").await.unwrap().unwrap();
        assert_eq!(failures, 0);
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
