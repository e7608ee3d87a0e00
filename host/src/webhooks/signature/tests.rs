//! The schemes against their publishers' own examples, and the ways a
//! captured delivery could be written again.

use super::*;

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// Slack's published example ("Verifying requests from Slack").
const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const SLACK_TS: &str = "1531420618";
const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
const SLACK_SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

#[test]
fn slacks_published_example_verifies() {
    let headers = h(&[
        ("X-Slack-Request-Timestamp", SLACK_TS),
        ("X-Slack-Signature", SLACK_SIG),
    ]);
    let now = 1_531_420_618 + 60;
    assert!(
        verify(
            Scheme::SlackV0,
            SLACK_SECRET.as_bytes(),
            &headers,
            SLACK_BODY.as_bytes(),
            now
        )
        .is_ok()
    );
    let tampered = SLACK_BODY.replace("roadrunner", "coyote");
    assert_eq!(
        verify(
            Scheme::SlackV0,
            SLACK_SECRET.as_bytes(),
            &headers,
            tampered.as_bytes(),
            now
        ),
        Err(Rejection::BadSignature)
    );
    assert_eq!(
        verify(
            Scheme::SlackV0,
            SLACK_SECRET.as_bytes(),
            &headers,
            SLACK_BODY.as_bytes(),
            now + 3600
        ),
        Err(Rejection::Stale)
    );
}

// GitHub's published example ("Validating webhook deliveries").
#[test]
fn githubs_published_example_verifies() {
    let secret = b"It's a Secret to Everybody";
    let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let headers = h(&[
        ("X-Hub-Signature-256", sig),
        ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    ]);
    let verified = verify(Scheme::HubSha256, secret, &headers, b"Hello, World!", 0).unwrap();
    // The delivery id header is not signed: shown, not trusted.
    assert_eq!(
        verified.sender_id.as_deref(),
        Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
    );
    assert_eq!(
        verified.delivery_id,
        content_key(Scheme::HubSha256, &[b"Hello, World!"])
    );
    assert_eq!(
        verify(Scheme::HubSha256, secret, &headers, b"Hello, World?", 0),
        Err(Rejection::BadSignature)
    );
    assert_eq!(
        verify(Scheme::HubSha256, b"wrong", &headers, b"Hello, World!", 0),
        Err(Rejection::BadSignature)
    );
}

/// The Standard Webhooks libraries' own example (libraries/go/webhook_test.go,
/// TestWebhookSign, in github.com/standard-webhooks/standard-webhooks).
#[test]
fn the_standard_webhooks_example_verifies() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let (id, ts, body) = (
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1_614_265_330,
        br#"{"test": 2432232314}"#,
    );
    let expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    assert_eq!(
        sign_standard(secret, id, ts, body).as_deref(),
        Some(expected)
    );
    let rotated = format!("v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,xyz {expected}");
    let headers = h(&[
        ("webhook-id", id),
        ("webhook-timestamp", "1614265330"),
        ("webhook-signature", &rotated),
    ]);
    let verified = verify(
        Scheme::StandardWebhooks,
        secret.as_bytes(),
        &headers,
        body,
        ts + 10,
    )
    .unwrap();
    assert_eq!(verified.delivery_id, id);
    assert_eq!(
        verify(
            Scheme::StandardWebhooks,
            secret.as_bytes(),
            &headers,
            body,
            ts + 301
        ),
        Err(Rejection::Stale)
    );
    let forged = h(&[
        ("webhook-id", id),
        ("webhook-timestamp", "1614265330"),
        (
            "webhook-signature",
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
        ),
    ]);
    assert_eq!(
        verify(
            Scheme::StandardWebhooks,
            secret.as_bytes(),
            &forged,
            body,
            ts
        ),
        Err(Rejection::BadSignature)
    );
    assert_eq!(
        verify(
            Scheme::StandardWebhooks,
            secret.as_bytes(),
            &headers[1..],
            body,
            ts
        ),
        Err(Rejection::Missing("webhook-id"))
    );
    assert!(Scheme::StandardWebhooks.check_secret(secret).is_ok());
    assert!(
        Scheme::StandardWebhooks
            .check_secret("not base64!")
            .is_err()
    );
    let generated = Scheme::StandardWebhooks.new_secret();
    assert!(
        generated.starts_with("whsec_")
            && Scheme::StandardWebhooks.check_secret(&generated).is_ok()
    );
}

const PYTHON_HMAC: &str = "0c02d895caa80b5889dfcecfb3d5936bd9c3608d52f019e2fd2fd1617e3dcdf1";

#[test]
fn the_cube_scheme_round_trips_and_refuses_what_is_missing_or_old() {
    let secret = b"s3cret";
    let body = br#"{"items":[]}"#;
    let sig = sign_cube(secret, 1_700_000_000, "d-1", body);
    // Computed independently: Python's hmac over b'1700000000.d-1.{"items":[]}'.
    assert_eq!(sig, format!("sha256={PYTHON_HMAC}"));
    let headers = h(&[
        ("x-cube-timestamp", "1700000000"),
        ("x-cube-signature", &sig),
        ("x-cube-delivery", "d-1"),
    ]);
    // The delivery id is signed: a replay under a new id is refused.
    let renamed = h(&[
        ("x-cube-timestamp", "1700000000"),
        ("x-cube-signature", &sig),
        ("x-cube-delivery", "d-2"),
    ]);
    assert_eq!(
        verify(Scheme::CubeHmac, secret, &renamed, body, 1_700_000_100),
        Err(Rejection::BadSignature)
    );
    assert_eq!(
        verify(Scheme::CubeHmac, secret, &headers, body, 1_700_000_100)
            .unwrap()
            .delivery_id,
        "d-1"
    );
    assert_eq!(
        verify(Scheme::CubeHmac, secret, &headers, body, 1_700_000_400),
        Err(Rejection::Stale)
    );
    assert_eq!(
        verify(Scheme::CubeHmac, secret, &headers[..1], body, 1_700_000_000),
        Err(Rejection::Missing("X-Cube-Signature"))
    );
    let bad = h(&[
        ("x-cube-timestamp", "1700000000"),
        ("x-cube-signature", "md5=00"),
    ]);
    assert_eq!(
        verify(Scheme::CubeHmac, secret, &bad, body, 1_700_000_000),
        Err(Rejection::Malformed("X-Cube-Signature"))
    );
    // A forged timestamp breaks the signature before freshness is checked.
    let moved = h(&[
        ("x-cube-timestamp", "1700000300"),
        ("x-cube-signature", &sig),
    ]);
    assert_eq!(
        verify(Scheme::CubeHmac, secret, &moved, body, 1_700_000_300),
        Err(Rejection::BadSignature)
    );
}

/// Every way of writing a request the signature accepts is one delivery:
/// the key is the signed content, whatever the unsigned headers say.
#[test]
fn a_delivery_is_recognised_by_what_is_signed_not_by_how_it_is_written() {
    let secret = b"It's a Secret to Everybody";
    let hex = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let body = b"Hello, World!";
    let key = |headers: &[(&str, &str)]| {
        verify(Scheme::HubSha256, secret, &h(headers), body, 0).map(|v| v.delivery_id)
    };
    let first = key(&[
        ("X-Hub-Signature-256", &format!("sha256={hex}")),
        ("X-GitHub-Delivery", "a"),
    ])
    .unwrap();
    for variant in [
        vec![
            ("X-Hub-Signature-256", format!("sha256={hex}")),
            ("X-GitHub-Delivery", "b".to_owned()),
        ],
        vec![(
            "X-Hub-Signature-256",
            format!("sha256={}", hex.to_uppercase()),
        )],
        vec![("X-Hub-Signature-256", format!(" sha256={hex}\t"))],
        vec![("X-Hub-Signature", format!("sha256={hex}"))],
        vec![
            ("X-Hub-Signature-256", format!("sha256={hex}")),
            ("X-Request-Id", "c".to_owned()),
        ],
    ] {
        let headers: Vec<(&str, &str)> = variant.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(key(&headers), Ok(first.clone()), "{variant:?}");
    }
    // Not a signature at all: malformed, not merely unmatched.
    let sig = "X-Hub-Signature-256";
    for malformed in [
        format!("sha256= {hex}"),
        format!("sha256={hex}00"),
        format!("sha256={}", &hex[..62]),
        format!("sha256={hex},sha256={hex}"),
        format!("SHA256={hex}"),
        format!("sha256={}g", &hex[..63]),
    ] {
        assert_eq!(
            key(&[(sig, &malformed)]),
            Err(Rejection::Malformed(sig)),
            "{malformed}"
        );
    }
    let twice = format!("sha256={hex}");
    assert_eq!(
        key(&[(sig, &twice), (sig, &twice)]),
        Err(Rejection::Malformed(sig))
    );
}

#[test]
fn timestamped_schemes_key_on_the_signed_timestamp_and_body() {
    let headers = |sig: &str, ts: &str| {
        h(&[
            ("X-Slack-Request-Timestamp", ts),
            ("X-Slack-Signature", sig),
            ("X-Request-Id", sig),
        ])
    };
    let now = 1_531_420_618;
    let slack = |sig: &str, ts: &str| {
        verify(
            Scheme::SlackV0,
            SLACK_SECRET.as_bytes(),
            &headers(sig, ts),
            SLACK_BODY.as_bytes(),
            now,
        )
    };
    let first = slack(SLACK_SIG, SLACK_TS).unwrap();
    assert_eq!(
        first.delivery_id,
        content_key(
            Scheme::SlackV0,
            &[b"v0:", SLACK_TS.as_bytes(), b":", SLACK_BODY.as_bytes()]
        )
    );
    let upper = format!("v0={}", SLACK_SIG[3..].to_uppercase());
    assert_eq!(
        slack(&upper, SLACK_TS).unwrap().delivery_id,
        first.delivery_id
    );
    assert_eq!(
        slack(&format!("{SLACK_SIG} "), &format!(" {SLACK_TS}"))
            .unwrap()
            .delivery_id,
        first.delivery_id
    );
    for (sig, ts, rejection) in [
        (
            format!("v0= {}", &SLACK_SIG[3..]),
            SLACK_TS.to_owned(),
            Rejection::Malformed("X-Slack-Signature"),
        ),
        (
            SLACK_SIG.to_owned(),
            format!("+{SLACK_TS}"),
            Rejection::Malformed("X-Slack-Request-Timestamp"),
        ),
        (
            SLACK_SIG.to_owned(),
            format!("{SLACK_TS}.0"),
            Rejection::Malformed("X-Slack-Request-Timestamp"),
        ),
    ] {
        assert_eq!(slack(&sig, &ts), Err(rejection), "{sig} {ts}");
    }

    // The CUBE scheme without a delivery id: the same.
    let secret = b"s3cret";
    let body = br#"{"items":[]}"#;
    let sig = sign_cube(secret, 1_700_000_000, "", body);
    let cube = |sig: &str, extra: (&str, &str)| {
        verify(
            Scheme::CubeHmac,
            secret,
            &h(&[
                ("x-cube-timestamp", "1700000000"),
                ("x-cube-signature", sig),
                extra,
            ]),
            body,
            1_700_000_010,
        )
        .map(|v| v.delivery_id)
    };
    let key = cube(&sig, ("x-request-id", "1")).unwrap();
    assert!(key.starts_with("sha256:"), "{key}");
    assert_eq!(cube(&sig, ("x-request-id", "2")), Ok(key.clone()));
    assert_eq!(
        cube(
            &sig.to_uppercase().replacen("SHA256=", "sha256=", 1),
            ("x-request-id", "3")
        ),
        Ok(key)
    );
    // With one, the signed id is the key.
    let signed = sign_cube(secret, 1_700_000_000, "d-9", body);
    assert_eq!(
        cube(&signed, ("x-cube-delivery", "d-9")),
        Ok("d-9".to_owned())
    );
}

#[test]
fn schemes_have_stable_names() {
    for scheme in Scheme::ALL {
        assert_eq!(Scheme::parse(scheme.as_str()), Some(scheme));
    }
    assert_eq!(Scheme::parse("md5"), None);
}
