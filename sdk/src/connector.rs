//! The trait a connector implements, and the glue that exports it.
//!
//! The host calls a connector through the exports of the `cube:connector`
//! world, each on a fresh instance, with the configuration as JSON text.
//! [`Connector`] gives those exports Rust signatures instead: the
//! configuration arrives deserialised into your
//! [`Config`](Connector::Config), a sync request is split into that and a
//! [`SyncInput`], and every method returns this crate's [`Result`].
//! [`export_connector!`](crate::export_connector) writes the exports from
//! the trait, so a connector has no glue of its own.

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::types::{
    Change, Choice, ConnectorInfo, PushResult, SyncMode, SyncPage, SyncRequest, WebhookOutcome,
    WebhookRequest,
};

/// What a sync call asks for, besides the configuration.
///
/// The exports build it from the host's [`SyncRequest`]; build it yourself
/// to call [`Connector::sync`] in a test (see [`testing`](crate::testing)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncInput {
    /// Whether to read everything ([`SyncMode::Full`]) or only what changed
    /// since `cursor` ([`SyncMode::Incremental`]).
    pub mode: SyncMode,
    /// Where to resume (see [`SyncRequest`]).
    pub cursor: Option<String>,
    /// Nothing may be changed anywhere.
    pub dry_run: bool,
    /// Records per page the host would like. A hint: a page may be smaller
    /// or larger when the remote system pages differently.
    pub page_size: u32,
}

/// A connector. Implement it, then export it with
/// [`export_connector!`](crate::export_connector).
///
/// Only `info` and `test_connection` are required. The others default to an
/// error saying the feature is not supported; leave such features out of
/// [`ConnectorInfo::features`](crate::types::ConnectorInfo) too.
pub trait Connector {
    /// The configuration, deserialised from the integration's JSON. A
    /// configuration that does not fit becomes a `config` error naming the
    /// field.
    type Config: DeserializeOwned;

    /// Describes the connector. Must be cheap and must not use the network:
    /// the host calls it on install and whenever it inspects the component.
    /// Build the answer with [`ConnectorInfo::builder`].
    fn info() -> ConnectorInfo;

    /// Checks that the configuration works: reach the remote system,
    /// authenticate, and read something small that a sync needs. Return a
    /// short message for the admin ("Connected as svc-cube, project OPS is
    /// visible"), or an error that says what to fix.
    fn test_connection(config: Self::Config) -> Result<String>;

    /// The values the remote system offers for the configuration field
    /// `field` (only fields the schema marks `"x-cube-choices": true` are
    /// asked for). `config` holds the fields of the wizard's earlier steps
    /// only, so it is the raw JSON object rather than [`Self::Config`].
    /// The default offers nothing, and the wizard shows a text input.
    fn choices(config: serde_json::Value, field: &str) -> Result<Vec<Choice>> {
        let _ = (config, field);
        Ok(Vec::new())
    }

    /// Reads one page of records.
    ///
    /// Return about [`input.page_size`](SyncInput::page_size) records with
    /// [`SyncPage::more`] and a cursor while there is more to read, and
    /// [`SyncPage::done`] on the last page. The host commits each page with
    /// its cursor and resumes an interrupted sync from the last one, so a
    /// cursor must say where to continue. Declare [`Features::SYNC`] when
    /// you implement it.
    ///
    /// [`Features::SYNC`]: crate::types::Features::SYNC
    fn sync(config: Self::Config, input: SyncInput) -> Result<SyncPage> {
        let _ = (config, input);
        Err(unsupported("sync"))
    }

    /// Writes a local change to the remote system.
    ///
    /// Return the remote id and the version the write produced: when that
    /// version comes back by webhook or sync, the host recognises its own
    /// write and does not apply it again. Declare [`Features::PUSH`] when
    /// you implement it.
    ///
    /// [`Features::PUSH`]: crate::types::Features::PUSH
    fn push(config: Self::Config, change: Change) -> Result<PushResult> {
        let _ = (config, change);
        Err(unsupported("push"))
    }

    /// Turns an authenticated webhook into records.
    ///
    /// The host has checked the signature and replays before this is
    /// called; the records are applied as if a sync had read them. Declare
    /// [`Features::WEBHOOKS`] when you implement it.
    ///
    /// [`Features::WEBHOOKS`]: crate::types::Features::WEBHOOKS
    fn handle_webhook(config: Self::Config, request: WebhookRequest) -> Result<WebhookOutcome> {
        let _ = (config, request);
        Err(unsupported("webhooks"))
    }
}

fn unsupported(feature: &str) -> Error {
    Error::fatal(format!("this connector does not support {feature}"))
}

/// Parses a configuration, with a message that names the offending field.
///
/// The exports do this for you before calling a [`Connector`] method; use
/// it for JSON configuration that reaches you some other way, or to test
/// that your `Config` accepts what the schema allows.
///
/// ```
/// use cube_connector_sdk::{Error, connector::parse_config};
///
/// #[derive(Debug, serde::Deserialize)]
/// struct Config {
///     base_url: String,
/// }
///
/// let config: Config = parse_config(r#"{"base_url": "https://todos.example.com"}"#)?;
/// assert_eq!(config.base_url, "https://todos.example.com");
///
/// let err = parse_config::<Config>("{}").unwrap_err();
/// assert!(matches!(&err, Error::Config(m) if m.contains("missing field `base_url`")));
/// # Ok::<(), Error>(())
/// ```
pub fn parse_config<T: DeserializeOwned>(json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| Error::config(format!("invalid configuration: {e}")))
}

/// The functions [`export_connector!`](crate::export_connector) wires to the
/// world's exports. Not for direct use.
#[doc(hidden)]
pub mod dispatch {
    use super::*;

    fn install_panic_hook() {
        // A panic in a component aborts without a message; log it first so
        // the admin (and the author) can see what went wrong.
        #[cfg(target_arch = "wasm32")]
        std::panic::set_hook(Box::new(|info| crate::log::error(format!("panic: {info}"))));
    }

    /// The `info` export: [`Connector::info`].
    pub fn info<C: Connector>() -> ConnectorInfo {
        C::info()
    }

    /// The `test-connection` export: parses the configuration, then
    /// [`Connector::test_connection`].
    pub fn test_connection<C: Connector>(config: String) -> Result<String> {
        install_panic_hook();
        C::test_connection(parse_config(&config)?)
    }

    /// The `choices` export: parses the partial configuration as JSON, then
    /// [`Connector::choices`].
    pub fn choices<C: Connector>(config: String, field: String) -> Result<Vec<Choice>> {
        install_panic_hook();
        let config: serde_json::Value = parse_config(&config)?;
        C::choices(config, &field)
    }

    /// The `sync` export: splits the request into the configuration and a
    /// [`SyncInput`], then [`Connector::sync`].
    pub fn sync<C: Connector>(request: SyncRequest) -> Result<SyncPage> {
        install_panic_hook();
        let config = parse_config(&request.config)?;
        C::sync(
            config,
            SyncInput {
                mode: request.mode,
                cursor: request.cursor,
                dry_run: request.dry_run,
                page_size: request.page_size,
            },
        )
    }

    /// The `push` export: parses the configuration, then [`Connector::push`].
    pub fn push<C: Connector>(config: String, change: Change) -> Result<PushResult> {
        install_panic_hook();
        C::push(parse_config(&config)?, change)
    }

    /// The `handle-webhook` export: parses the configuration, then
    /// [`Connector::handle_webhook`].
    pub fn handle_webhook<C: Connector>(
        config: String,
        request: WebhookRequest,
    ) -> Result<WebhookOutcome> {
        install_panic_hook();
        C::handle_webhook(parse_config(&config)?, request)
    }
}

/// Exports a [`Connector`] as the component's implementation of the
/// `cube:connector/connector` world. Use it once, at the crate root.
///
/// It implements [`Guest`](crate::bindings::Guest) for a hidden type that
/// parses each call's configuration and hands it to your connector. On
/// `wasm32` it also exports that implementation from the component;
/// natively it exports nothing, so the same crate builds for `cargo test`.
///
/// ```
/// use cube_connector_sdk::prelude::*;
///
/// struct Hello;
///
/// impl Connector for Hello {
///     type Config = serde_json::Value;
///
///     fn info() -> ConnectorInfo {
///         ConnectorInfo::builder("hello", "Hello", "0.1.0").build()
///     }
///
///     fn test_connection(_: Self::Config) -> Result<String> {
///         Ok("Hello".into())
///     }
/// }
///
/// cube_connector_sdk::export_connector!(Hello);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        #[doc(hidden)]
        pub struct __CubeConnectorExport;

        impl $crate::bindings::Guest for __CubeConnectorExport {
            fn info() -> $crate::types::ConnectorInfo {
                $crate::__private::dispatch::info::<$connector>()
            }
            fn test_connection(config: String) -> Result<String, $crate::types::ConnectorError> {
                $crate::__private::dispatch::test_connection::<$connector>(config)
            }
            fn choices(
                config: String,
                field: String,
            ) -> Result<Vec<$crate::types::Choice>, $crate::types::ConnectorError> {
                $crate::__private::dispatch::choices::<$connector>(config, field)
            }
            fn sync(
                request: $crate::types::SyncRequest,
            ) -> Result<$crate::types::SyncPage, $crate::types::ConnectorError> {
                $crate::__private::dispatch::sync::<$connector>(request)
            }
            fn push(
                config: String,
                change: $crate::types::Change,
            ) -> Result<$crate::types::PushResult, $crate::types::ConnectorError> {
                $crate::__private::dispatch::push::<$connector>(config, change)
            }
            fn handle_webhook(
                config: String,
                request: $crate::types::WebhookRequest,
            ) -> Result<$crate::types::WebhookOutcome, $crate::types::ConnectorError> {
                $crate::__private::dispatch::handle_webhook::<$connector>(config, request)
            }
        }

        #[cfg(target_arch = "wasm32")]
        $crate::bindings::__export_world!(__CubeConnectorExport);
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Features, Record};

    #[derive(serde::Deserialize)]
    struct Config {
        #[allow(dead_code)]
        url: String,
    }

    struct Minimal;

    impl Connector for Minimal {
        type Config = Config;
        fn info() -> ConnectorInfo {
            ConnectorInfo::builder("minimal", "Minimal", "1.0.0")
                .features(Features::SYNC)
                .build()
        }
        fn test_connection(_: Config) -> Result<String> {
            Ok("fine".into())
        }
        fn sync(_: Config, input: SyncInput) -> Result<SyncPage> {
            Ok(SyncPage::done(
                vec![Record::builder("item", "1").build()],
                input.cursor,
            ))
        }
    }

    crate::export_connector!(Minimal);

    #[test]
    fn configs_that_do_not_fit_are_config_errors_naming_the_field() {
        let err = dispatch::test_connection::<Minimal>("{}".into()).unwrap_err();
        assert!(
            matches!(&err, Error::Config(m) if m.contains("missing field `url`")),
            "{err:?}"
        );
        assert_eq!(
            dispatch::test_connection::<Minimal>(r#"{"url":"x"}"#.into()).unwrap(),
            "fine"
        );
    }

    #[test]
    fn sync_requests_are_unpacked_and_defaults_say_unsupported() {
        let page = dispatch::sync::<Minimal>(SyncRequest {
            config: r#"{"url":"x"}"#.into(),
            mode: SyncMode::Incremental,
            cursor: Some("c1".into()),
            dry_run: false,
            page_size: 100,
        })
        .unwrap();
        assert_eq!(page.cursor.as_deref(), Some("c1"));
        assert_eq!(page.records.len(), 1);
        let err = <__CubeConnectorExport as crate::bindings::Guest>::push(
            r#"{"url":"x"}"#.into(),
            Change {
                kind: "work-order".into(),
                local_id: "1".into(),
                external_id: None,
                operation: crate::types::ChangeOperation::Create,
                fields: "{}".into(),
                changed_fields: vec![],
            },
        )
        .unwrap_err();
        assert!(err.message().contains("does not support push"));
    }
}
