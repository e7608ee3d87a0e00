//! Recorded HTTP exchanges, for testing a connector without its remote system.
//!
//! `cube plugin test --record FILE` runs a connector against the real
//! service and keeps every exchange; `--replay FILE` runs it again with the
//! same answers and no network. Replay still goes through the grant check,
//! so a connector that fetches something it did not declare fails the same
//! way it would in production.
//!
//! A recording never holds a secret: request headers are not kept at all
//! (they carry the credentials), and the integration's secret values are
//! replaced by [`REDACTED`] in URLs and bodies. Replay scrubs the live
//! request the same way before looking for its answer, so the recording
//! matches whatever the secrets are.

use std::sync::Mutex;

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::runtime::bindings::cube::connector::http::{HttpError, Response};
use crate::runtime::scrub::{REDACTED, Secrets};

/// The version of the file format written by [`HttpRecording::to_json`].
const FORMAT: u32 = 1;

/// Whether a recording is being made or played back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordingMode {
    /// Requests go to the network; each exchange is kept.
    Record,
    /// Requests are answered from the recording; nothing goes out.
    Replay,
}

/// One request and its answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Exchange {
    pub method: String,
    /// The URL, secrets scrubbed.
    pub url: String,
    /// The request body as text (secrets scrubbed), when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    pub status: u16,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The response body as text, or `base64:` and its bytes when it is not
    /// UTF-8.
    #[serde(default)]
    pub body: String,
}

#[derive(Serialize, Deserialize)]
struct File {
    cube_http_recording: u32,
    exchanges: Vec<Exchange>,
}

/// The exchanges of one test run, shared by all its calls.
#[derive(Debug)]
pub struct HttpRecording {
    mode: RecordingMode,
    secrets: Secrets,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    exchanges: Vec<Exchange>,
    /// For replay: which exchanges have been answered already.
    used: Vec<bool>,
}

impl HttpRecording {
    /// An empty recording to fill; `secrets` are kept out of it.
    pub fn record(secrets: Secrets) -> Self {
        Self {
            mode: RecordingMode::Record,
            secrets,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// A recording read from `json` (as [`to_json`](Self::to_json) writes
    /// it), to answer requests from.
    pub fn replay(json: &str, secrets: Secrets) -> Result<Self, String> {
        let file: File = serde_json::from_str(json)
            .map_err(|e| format!("this is not an HTTP recording of cube plugin test: {e}"))?;
        if file.cube_http_recording != FORMAT {
            return Err(format!(
                "this recording has format {}, and this host reads format {FORMAT}; record it again",
                file.cube_http_recording
            ));
        }
        let used = vec![false; file.exchanges.len()];
        Ok(Self {
            mode: RecordingMode::Replay,
            secrets,
            inner: Mutex::new(Inner {
                exchanges: file.exchanges,
                used,
            }),
        })
    }

    pub fn mode(&self) -> RecordingMode {
        self.mode
    }

    /// The recording as pretty JSON, for a file.
    pub fn to_json(&self) -> String {
        let inner = self.inner.lock().expect("recording lock");
        let file = File {
            cube_http_recording: FORMAT,
            exchanges: inner.exchanges.clone(),
        };
        serde_json::to_string_pretty(&file).expect("a recording serialises")
    }

    /// How many exchanges it holds, and how many of them were answered.
    pub fn counts(&self) -> (usize, usize) {
        let inner = self.inner.lock().expect("recording lock");
        (
            inner.exchanges.len(),
            inner.used.iter().filter(|u| **u).count(),
        )
    }

    /// The `scheme://host:port` of every recorded request: what was
    /// granted when the recording was made.
    pub fn origins(&self) -> Vec<String> {
        let inner = self.inner.lock().expect("recording lock");
        let mut origins: Vec<String> = inner
            .exchanges
            .iter()
            .filter_map(|e| reqwest::Url::parse(&e.url).ok())
            .filter_map(|url| {
                let host = url.host_str()?.to_owned();
                let port = url.port_or_known_default()?;
                Some(format!("{}://{host}:{port}", url.scheme()))
            })
            .collect();
        origins.sort();
        origins.dedup();
        origins
    }

    /// Keeps one exchange made over the network.
    pub fn keep(&self, method: &str, url: &str, body: Option<&[u8]>, response: &Response) {
        let exchange = Exchange {
            method: method.to_owned(),
            url: self.secrets.scrub(url),
            request_body: body.map(|b| self.secrets.scrub(&String::from_utf8_lossy(b))),
            status: response.status,
            headers: response
                .headers
                .iter()
                .filter(|(name, _)| !name.eq_ignore_ascii_case("set-cookie"))
                .map(|(name, value)| (name.clone(), self.secrets.scrub(value)))
                .collect(),
            body: match std::str::from_utf8(&response.body) {
                Ok(text) if !text.starts_with("base64:") => self.secrets.scrub(text),
                _ => format!(
                    "base64:{}",
                    base64::engine::general_purpose::STANDARD.encode(&response.body)
                ),
            },
        };
        let mut inner = self.inner.lock().expect("recording lock");
        inner.exchanges.push(exchange);
        inner.used.push(true);
    }

    /// The recorded answer to a request: the first exchange not yet used
    /// with the same method, URL and body (so a request sent twice gets its
    /// two answers in order).
    pub fn answer(
        &self,
        method: &str,
        url: &str,
        body: Option<&[u8]>,
    ) -> Result<Response, HttpError> {
        let url_scrubbed = self.secrets.scrub(url);
        let body_scrubbed = body.map(|b| self.secrets.scrub(&String::from_utf8_lossy(b)));
        let mut inner = self.inner.lock().expect("recording lock");
        let Inner { exchanges, used } = &mut *inner;
        let found = exchanges.iter().enumerate().position(|(i, e)| {
            !used[i]
                && e.method.eq_ignore_ascii_case(method)
                && e.url == url_scrubbed
                && (e.request_body.is_none() || e.request_body == body_scrubbed)
        });
        let Some(index) = found else {
            let shown = url_scrubbed.replace(REDACTED, "…");
            return Err(HttpError::Connection(format!(
                "the recording has no answer for {method} {shown}; \
                 record again with --record if the connector's requests changed"
            )));
        };
        used[index] = true;
        let exchange = &exchanges[index];
        let body = match exchange.body.strip_prefix("base64:") {
            Some(encoded) => base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|e| {
                    HttpError::Connection(format!(
                        "the recorded body for {shown} is not base64: {e}",
                        shown = exchange.url
                    ))
                })?,
            None => exchange.body.clone().into_bytes(),
        };
        Ok(Response {
            status: exchange.status,
            headers: exchange.headers.clone(),
            body,
            url: url.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &[u8]) -> Response {
        Response {
            status,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("set-cookie".into(), "session=abc".into()),
            ],
            body: body.to_vec(),
            url: String::new(),
        }
    }

    #[test]
    fn a_recording_keeps_no_secret_and_replays_whatever_the_secret_is() {
        let recording = HttpRecording::record(Secrets::new(["tok-1234"]));
        recording.keep(
            "GET",
            "https://api.example.com/items?key=tok-1234&page=1",
            None,
            &response(200, br#"{"echo":"tok-1234"}"#),
        );
        let json = recording.to_json();
        assert!(!json.contains("tok-1234"), "{json}");
        assert!(!json.contains("session=abc"), "{json}");

        let replay = HttpRecording::replay(&json, Secrets::new(["other-secret"])).unwrap();
        let answer = replay
            .answer(
                "GET",
                "https://api.example.com/items?key=other-secret&page=1",
                None,
            )
            .unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(replay.counts(), (1, 1));
        assert_eq!(replay.origins(), ["https://api.example.com:443"]);
    }

    #[test]
    fn repeated_requests_get_their_answers_in_order_and_then_none() {
        let recording = HttpRecording::record(Secrets::default());
        recording.keep(
            "POST",
            "https://x.example/a",
            Some(b"1"),
            &response(201, b"first"),
        );
        recording.keep(
            "POST",
            "https://x.example/a",
            Some(b"1"),
            &response(200, b"second"),
        );
        recording.keep(
            "GET",
            "https://x.example/bin",
            None,
            &response(200, &[0xff, 0x00]),
        );
        let replay = HttpRecording::replay(&recording.to_json(), Secrets::default()).unwrap();
        let other_body = replay.answer("POST", "https://x.example/a", Some(b"2"));
        assert!(other_body.is_err(), "{other_body:?}");
        let bin = replay.answer("GET", "https://x.example/bin", None).unwrap();
        assert_eq!(bin.body, vec![0xff, 0x00]);
        let first = replay
            .answer("POST", "https://x.example/a", Some(b"1"))
            .unwrap();
        let second = replay
            .answer("POST", "https://x.example/a", Some(b"1"))
            .unwrap();
        assert_eq!(
            (first.body, second.body),
            (b"first".to_vec(), b"second".to_vec())
        );
        let third = replay.answer("POST", "https://x.example/a", Some(b"1"));
        assert!(
            matches!(&third, Err(HttpError::Connection(m)) if m.contains("no answer for POST https://x.example/a")),
            "{third:?}"
        );
    }

    #[test]
    fn a_file_of_another_kind_is_refused_in_words() {
        let error = HttpRecording::replay("{\"hello\":1}", Secrets::default()).unwrap_err();
        assert!(error.contains("not an HTTP recording"), "{error}");
        let error = HttpRecording::replay(
            r#"{"cube_http_recording": 99, "exchanges": []}"#,
            Secrets::default(),
        )
        .unwrap_err();
        assert!(error.contains("format 99"), "{error}");
    }
}
