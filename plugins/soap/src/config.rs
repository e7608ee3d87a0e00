//! The settings and their schema (the setup wizard's steps: Service,
//! Credentials, Operation).

use std::collections::BTreeMap;

use cube_connector_sdk::prelude::*;
use serde::Deserialize;
use serde_json::Value;

use crate::version::SoapVersion;
use crate::wssec;

fn default_kind() -> String {
    "item".into()
}

fn default_id() -> String {
    "id".into()
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Config {
    #[serde(default)]
    pub wsdl_url: String,
    #[serde(default)]
    pub wsdl: String,
    #[serde(default)]
    pub endpoint: String,
    #[serde(default)]
    pub http_username: String,
    #[serde(default)]
    pub http_password: String,
    #[serde(default)]
    pub ws_security: wssec::Mode,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub operation: String,
    #[serde(default)]
    pub soap_version: SoapVersion,
    #[serde(default)]
    pub body_template: String,
    #[serde(default)]
    pub record_path: String,
    #[serde(default = "default_kind")]
    pub record_kind: String,
    #[serde(default = "default_id")]
    pub id_field: String,
    #[serde(default)]
    pub updated_field: String,
}

fn http_url(what: &str, url: &str) -> Result<String> {
    let url = url.trim();
    if !cube_connector_sdk::config::is_http_url(url) {
        return Err(Error::config(format!(
            "the {what} `{url}` is not an http(s) address"
        )));
    }
    Ok(url.to_owned())
}

impl Config {
    pub fn wsdl_url(&self) -> Result<Option<String>> {
        match self.wsdl_url.trim() {
            "" => Ok(None),
            url => http_url("WSDL URL", url).map(Some),
        }
    }

    pub fn endpoint(&self) -> Result<Option<String>> {
        match self.endpoint.trim() {
            "" => Ok(None),
            url => http_url("endpoint", url).map(Some),
        }
    }

    pub fn operation(&self) -> Result<&str> {
        match self.operation.trim() {
            "" => Err(Error::config("no operation is configured")),
            op => Ok(op),
        }
    }

    pub fn basic(&self) -> Option<(&str, &str)> {
        let user = self.http_username.trim();
        (!user.is_empty()).then_some((user, self.http_password.as_str()))
    }

    /// The values the body template's `{{name}}` placeholders may take:
    /// the plain settings (secrets and the long texts left out) and
    /// `since`, the cursor.
    pub fn placeholders(&self, since: &str) -> BTreeMap<String, String> {
        let plain = [
            ("wsdl_url", &self.wsdl_url),
            ("endpoint", &self.endpoint),
            ("http_username", &self.http_username),
            ("username", &self.username),
            ("operation", &self.operation),
            ("record_path", &self.record_path),
            ("record_kind", &self.record_kind),
            ("id_field", &self.id_field),
            ("updated_field", &self.updated_field),
        ];
        let mut out: BTreeMap<String, String> = plain
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
            .collect();
        out.insert("since".into(), since.to_owned());
        out
    }
}

pub fn schema() -> Value {
    json!({
        "type": "object",
        "required": ["operation", "record_path"],
        "x-cube-checks": ["Service", "Credentials", "Operation"],
        "properties": {
            "wsdl_url": {
                "type": "string", "format": "uri", "title": "WSDL URL",
                "description": "Where the service's WSDL 1.1 is, like https://erp.example.com/ws/items?wsdl (fetched with the credentials below). Leave empty to paste the WSDL instead.",
                "x-cube-step": "Service"
            },
            "wsdl": {
                "type": "string", "x-cube-multiline": true, "title": "WSDL",
                "description": "The WSDL 1.1 document itself, when it cannot be fetched. Used only without a WSDL URL.",
                "x-cube-step": "Service"
            },
            "endpoint": {
                "type": "string", "format": "uri", "title": "Endpoint",
                "description": "Optional: the address to call instead of the one the WSDL names.",
                "x-cube-step": "Service"
            },
            "http_username": {
                "type": "string", "title": "HTTP user",
                "description": "Optional: HTTP basic authentication for the WSDL and the calls.",
                "x-cube-step": "Credentials"
            },
            "http_password": {
                "type": "string", "writeOnly": true, "title": "HTTP password",
                "x-cube-step": "Credentials"
            },
            "ws_security": {
                "enum": ["none", "text", "digest"], "default": "none", "title": "WS-Security",
                "description": "A WS-Security UsernameToken in each request. text: the password as it is (PasswordText; only over https). digest: PasswordDigest, the password hashed with a nonce and the server's time.",
                "x-cube-step": "Credentials"
            },
            "username": {
                "type": "string", "title": "WS-Security user",
                "x-cube-step": "Credentials"
            },
            "password": {
                "type": "string", "writeOnly": true, "title": "WS-Security password",
                "x-cube-step": "Credentials"
            },
            "operation": {
                "type": "string", "title": "Operation",
                "description": "The WSDL operation a sync calls.",
                "x-cube-choices": true, "x-cube-step": "Operation"
            },
            "soap_version": {
                "enum": ["1.1", "1.2"], "default": "1.1", "title": "SOAP version",
                "description": "The binding to use; the WSDL must bind the operation in this version.",
                "x-cube-step": "Operation"
            },
            "body_template": {
                "type": "string", "x-cube-multiline": true, "title": "Request body",
                "description": "The operation's parameters as XML, like <since>{{since}}</since>; they are wrapped in the operation's element and namespace (write the whole element yourself to control it). {{since}} is the highest change stamp seen (empty on a full sync); {{name}} is any other plain setting. Values are XML-escaped.",
                "x-cube-step": "Operation"
            },
            "record_path": {
                "type": "string", "title": "Record path",
                "description": "Where the records are in the response, element names separated by /, like GetItemsResponse/GetItemsResult/Item (from inside the Body, or from Envelope; * matches any name). Each one's child elements are its fields.",
                "x-cube-step": "Operation"
            },
            "record_kind": {
                "type": "string", "default": "item", "title": "Record kind",
                "x-cube-step": "Operation"
            },
            "id_field": {
                "type": "string", "default": "id", "title": "Id field",
                "description": "The child element holding each record's stable id.",
                "x-cube-step": "Operation"
            },
            "updated_field": {
                "type": "string", "title": "Change stamp field",
                "description": "Optional: the child element holding when a record last changed (ISO 8601 or a number). Incremental syncs pass the highest one seen as {{since}}.",
                "x-cube-step": "Operation"
            }
        }
    })
}
