//! Secret values a connector logs or puts in an error are scrubbed before
//! the host keeps them.

use cube_test_support as common;

use cube_host::runtime::{CallError, ConnectorError, Secrets};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_in_logs_and_errors_are_redacted() {
    let runtime = common::runtime();
    let probe = common::probe(&runtime);
    let info = probe
        .info(&runtime.context("secrets"))
        .await
        .result
        .unwrap();
    let schema: serde_json::Value = serde_json::from_str(&info.config_schema).unwrap();
    let config = serde_json::json!({"action": "leak", "password": "correct horse battery"});

    let ctx = runtime
        .context("secrets")
        .with_secrets(Secrets::from_config(&schema, &config));
    let outcome = probe.test_connection(&ctx, &config.to_string()).await;

    assert_eq!(
        outcome.result.unwrap_err(),
        CallError::Connector(ConnectorError::Auth(
            "password [redacted] was refused".into()
        ))
    );
    let log: Vec<&str> = outcome
        .report
        .log
        .iter()
        .map(|l| l.message.as_str())
        .collect();
    assert_eq!(log, ["connecting with password [redacted]"]);
    let everything = format!("{:?}", outcome.report);
    assert!(!everything.contains("correct horse"), "{everything}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_schema_marking_nothing_is_hidden() {
    // The control case: the scrubbing above is the schema's doing.
    let runtime = common::runtime();
    let probe = common::probe(&runtime);
    let config = serde_json::json!({"action": "leak", "password": "correct horse battery"});
    let outcome = probe
        .test_connection(&runtime.context("plain"), &config.to_string())
        .await;
    assert!(
        outcome.report.log[0]
            .message
            .contains("correct horse battery")
    );
}
