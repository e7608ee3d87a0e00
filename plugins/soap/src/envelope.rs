//! SOAP 1.1 and 1.2 envelopes: the body template filled in, wrapped in the
//! operation's element with its namespace, and the HTTP headers each
//! version wants.

use std::collections::BTreeMap;

use crate::version::SoapVersion;
use crate::wsdl::CallPlan;
use crate::xml;

/// Fills `{{name}}` placeholders with XML-escaped values. A placeholder
/// with no value is an error naming it (and the names there are).
pub fn render_template(
    template: &str,
    values: &BTreeMap<String, String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err("the body template has a `{{` that is never closed with `}}`".into());
        };
        let name = after[..end].trim();
        let value = values.get(name).ok_or_else(|| {
            format!(
                "the body template names `{{{{{name}}}}}`, which has no value; the placeholders are {}",
                values
                    .keys()
                    .map(|k| format!("{{{{{k}}}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        out.push_str(&xml::escape(value));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The body's element: the filled-in template inside the operation's
/// wrapper element (`<tns:GetItems xmlns:tns=…>`), or the template alone
/// when it already is that element. With qualified children the wrapper
/// also makes its namespace the default, so `<since>` in the template is
/// in it. The result is checked to be well-formed.
pub fn body(plan: &CallPlan, filled: &str) -> Result<String, String> {
    let filled = filled.trim();
    let (ns, local) = &plan.wrapper;
    let whole = if starts_with_element(filled, local) {
        filled.to_owned()
    } else {
        let mut open = format!("<tns:{local}");
        if let Some(ns) = ns {
            let ns = xml::escape(ns);
            open.push_str(&format!(" xmlns:tns=\"{ns}\""));
            if plan.qualified {
                open.push_str(&format!(" xmlns=\"{ns}\""));
            }
        }
        if filled.is_empty() {
            format!("{open}/>")
        } else {
            format!("{open}>{filled}</tns:{local}>")
        }
    };
    // Checked inside a stand-in root that binds the `tns` prefix the
    // template may use.
    let ns = ns.as_deref().map(xml::escape).unwrap_or_default();
    let check = if ns.is_empty() {
        format!("<check>{whole}</check>")
    } else {
        format!("<check xmlns:tns=\"{ns}\">{whole}</check>")
    };
    xml::parse(&check)
        .map_err(|e| format!("the body template does not make well-formed XML: {e}"))?;
    Ok(whole)
}

/// Whether `text` starts with an element whose local name is `local`.
fn starts_with_element(text: &str, local: &str) -> bool {
    let Some(rest) = text.strip_prefix('<') else {
        return false;
    };
    let name: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
        .collect();
    name.rsplit(':').next() == Some(local)
}

/// The envelope, with an optional header block (raw XML).
pub fn envelope(version: SoapVersion, header: Option<&str>, body: &str) -> String {
    let ns = version.envelope_ns();
    let header = header
        .map(|h| format!("<soap:Header>{h}</soap:Header>"))
        .unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
         <soap:Envelope xmlns:soap=\"{ns}\">{header}<soap:Body>{body}</soap:Body></soap:Envelope>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(qualified: bool) -> CallPlan {
        CallPlan {
            operation: "GetItems".into(),
            version: SoapVersion::V11,
            soap_action: "urn:GetItems".into(),
            address: None,
            wrapper: (Some("urn:items".into()), "GetItems".into()),
            qualified,
        }
    }

    #[test]
    fn templates_fill_escaped_values_and_name_unknown_ones() {
        let values = BTreeMap::from([("since".to_owned(), "a<b&\"c".to_owned())]);
        assert_eq!(
            render_template("<since>{{ since }}</since>", &values).unwrap(),
            "<since>a&lt;b&amp;&quot;c</since>"
        );
        let err = render_template("{{until}}", &values).unwrap_err();
        assert!(
            err.contains("{{until}}") && err.contains("{{since}}"),
            "{err}"
        );
        assert!(render_template("{{since", &values).is_err());
    }

    #[test]
    fn bodies_are_wrapped_in_the_operation_with_its_namespace() {
        assert_eq!(
            body(&plan(true), "<since>x</since>").unwrap(),
            "<tns:GetItems xmlns:tns=\"urn:items\" xmlns=\"urn:items\"><since>x</since></tns:GetItems>"
        );
        assert_eq!(
            body(&plan(false), "").unwrap(),
            "<tns:GetItems xmlns:tns=\"urn:items\"/>"
        );
        let own = "<tns:GetItems><tns:since/></tns:GetItems>";
        assert_eq!(body(&plan(true), own).unwrap(), own);
        assert!(
            body(&plan(true), "<since>")
                .unwrap_err()
                .contains("well-formed")
        );
    }

    #[test]
    fn envelopes_and_headers_follow_the_version() {
        let e = envelope(SoapVersion::V12, Some("<h/>"), "<b/>");
        assert!(e.contains("xmlns:soap=\"http://www.w3.org/2003/05/soap-envelope\""));
        assert!(e.contains("<soap:Header><h/></soap:Header><soap:Body><b/></soap:Body>"));
        assert!(crate::xml::parse(&e).is_ok());
        assert_eq!(
            SoapVersion::V11.http_headers("urn:a"),
            [
                (
                    "content-type".to_owned(),
                    "text/xml; charset=utf-8".to_owned()
                ),
                ("soapaction".to_owned(), "\"urn:a\"".to_owned())
            ]
        );
        assert_eq!(
            SoapVersion::V12.http_headers("urn:a")[0].1,
            "application/soap+xml; charset=utf-8; action=\"urn:a\""
        );
        assert_eq!(
            SoapVersion::V12.http_headers("")[0].1,
            "application/soap+xml; charset=utf-8"
        );
    }
}
