//! The two SOAP versions and the namespaces that name them, in envelopes
//! and in WSDL bindings: what `envelope` writes and `wsdl` reads.

use serde::Deserialize;

/// The WSDL 1.1 SOAP 1.1 binding extension.
pub const SOAP11_BINDING_NS: &str = "http://schemas.xmlsoap.org/wsdl/soap/";
/// The WSDL 1.1 SOAP 1.2 binding extension.
pub const SOAP12_BINDING_NS: &str = "http://schemas.xmlsoap.org/wsdl/soap12/";
pub const SOAP11_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const SOAP12_ENV: &str = "http://www.w3.org/2003/05/soap-envelope";

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum SoapVersion {
    #[default]
    #[serde(rename = "1.1")]
    V11,
    #[serde(rename = "1.2")]
    V12,
}

impl SoapVersion {
    pub fn name(self) -> &'static str {
        match self {
            SoapVersion::V11 => "SOAP 1.1",
            SoapVersion::V12 => "SOAP 1.2",
        }
    }

    pub fn envelope_ns(self) -> &'static str {
        match self {
            SoapVersion::V11 => SOAP11_ENV,
            SoapVersion::V12 => SOAP12_ENV,
        }
    }

    /// The WSDL binding extension's namespace.
    pub fn binding_ns(self) -> &'static str {
        match self {
            SoapVersion::V11 => SOAP11_BINDING_NS,
            SoapVersion::V12 => SOAP12_BINDING_NS,
        }
    }

    /// The HTTP headers of a request: 1.1 has its content type and a
    /// `SOAPAction` header (always sent, quoted, even when empty); 1.2
    /// carries the action as a parameter of its content type.
    pub fn http_headers(self, action: &str) -> Vec<(String, String)> {
        let action = action.replace(['"', '\r', '\n'], "");
        match self {
            SoapVersion::V11 => vec![
                ("content-type".into(), "text/xml; charset=utf-8".into()),
                ("soapaction".into(), format!("\"{action}\"")),
            ],
            SoapVersion::V12 => {
                let mut content_type = "application/soap+xml; charset=utf-8".to_owned();
                if !action.is_empty() {
                    content_type.push_str(&format!("; action=\"{action}\""));
                }
                vec![("content-type".into(), content_type)]
            }
        }
    }
}
