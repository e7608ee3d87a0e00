//! What a SCIM client reads to learn what this service provider does
//! (RFC 7644 §4): `ServiceProviderConfig`, `ResourceTypes` and `Schemas`
//! (RFC 7643 §5-7). They state exactly what the handlers do: PATCH, ETags
//! and filters yes; bulk, sorting and password changes no.

use serde_json::{Value, json};

use super::filter::{CORE_GROUP, CORE_USER};
use super::resource::ENTERPRISE_USER;
use super::{LIST_SCHEMA, MAX_COUNT};

const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const CONFIG_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": [CONFIG_SCHEMA],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_COUNT},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "API token",
            "description": "An API token with the `scim` scope, sent as Authorization: Bearer <token>.",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}

pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "User", "name": "User", "endpoint": "/Users",
            "description": "A directory user",
            "schema": CORE_USER,
            "schemaExtensions": [{"schema": ENTERPRISE_USER, "required": false}],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")},
        }),
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "Group", "name": "Group", "endpoint": "/Groups",
            "description": "A directory group",
            "schema": CORE_GROUP,
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")},
        }),
    ]
}

/// One attribute's definition (RFC 7643 §7).
struct Attr {
    name: &'static str,
    kind: &'static str,
    multi: bool,
    required: bool,
    case_exact: bool,
    mutability: &'static str,
    returned: &'static str,
    uniqueness: &'static str,
    sub: Vec<Attr>,
}

fn attr(name: &'static str, kind: &'static str) -> Attr {
    Attr {
        name,
        kind,
        multi: false,
        required: false,
        case_exact: false,
        mutability: "readWrite",
        returned: "default",
        uniqueness: "none",
        sub: Vec::new(),
    }
}

impl Attr {
    fn multi(mut self) -> Self {
        self.multi = true;
        self
    }
    fn required(mut self) -> Self {
        self.required = true;
        self
    }
    fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    fn mutability(mut self, m: &'static str) -> Self {
        self.mutability = m;
        self
    }
    fn unique(mut self, u: &'static str) -> Self {
        self.uniqueness = u;
        self
    }
    fn never_returned(mut self) -> Self {
        self.returned = "never";
        self
    }
    fn sub(mut self, sub: Vec<Attr>) -> Self {
        self.kind = "complex";
        self.sub = sub;
        self
    }

    fn json(&self) -> Value {
        let mut value = json!({
            "name": self.name,
            "type": self.kind,
            "multiValued": self.multi,
            "description": self.name,
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": self.mutability,
            "returned": self.returned,
            "uniqueness": self.uniqueness,
        });
        if !self.sub.is_empty() {
            value["subAttributes"] = Value::Array(self.sub.iter().map(Attr::json).collect());
        }
        if self.kind == "reference" {
            value["referenceTypes"] = json!(["User", "Group"]);
        }
        value
    }
}

/// The sub-attributes of a multi-valued attribute such as `emails`.
fn values_of(kind_values: bool) -> Vec<Attr> {
    let mut sub = vec![attr("value", "string"), attr("display", "string")];
    if kind_values {
        sub.push(attr("type", "string"));
        sub.push(attr("primary", "boolean"));
    }
    sub
}

/// A reference to a user or group (`members`, `groups`, `manager`).
fn reference(mutability: &'static str) -> Vec<Attr> {
    vec![
        attr("value", "string").case_exact().mutability(mutability),
        attr("$ref", "reference")
            .case_exact()
            .mutability(mutability),
        attr("display", "string").mutability("readOnly"),
        attr("type", "string").mutability(mutability),
    ]
}

pub fn schemas(base: &str) -> Vec<Value> {
    let user = vec![
        attr("userName", "string").required().unique("server"),
        attr("name", "complex").sub(vec![
            attr("formatted", "string"),
            attr("familyName", "string"),
            attr("givenName", "string"),
            attr("middleName", "string"),
            attr("honorificPrefix", "string"),
            attr("honorificSuffix", "string"),
        ]),
        attr("displayName", "string"),
        attr("nickName", "string"),
        attr("title", "string"),
        attr("userType", "string"),
        attr("preferredLanguage", "string"),
        attr("locale", "string"),
        attr("timezone", "string"),
        attr("active", "boolean"),
        attr("password", "string")
            .mutability("writeOnly")
            .never_returned(),
        attr("externalId", "string").case_exact(),
        attr("emails", "complex").multi().sub(values_of(true)),
        attr("phoneNumbers", "complex").multi().sub(values_of(true)),
        attr("addresses", "complex").multi().sub(vec![
            attr("formatted", "string"),
            attr("streetAddress", "string"),
            attr("locality", "string"),
            attr("region", "string"),
            attr("postalCode", "string"),
            attr("country", "string"),
            attr("type", "string"),
            attr("primary", "boolean"),
        ]),
        attr("groups", "complex")
            .multi()
            .mutability("readOnly")
            .sub(reference("readOnly")),
        attr("roles", "complex").multi().sub(values_of(true)),
    ];
    let enterprise = vec![
        attr("employeeNumber", "string"),
        attr("costCenter", "string"),
        attr("organization", "string"),
        attr("division", "string"),
        attr("department", "string"),
        attr("manager", "complex").sub(reference("readWrite")),
    ];
    let group = vec![
        attr("displayName", "string").required(),
        attr("externalId", "string").case_exact(),
        attr("members", "complex")
            .multi()
            .sub(reference("immutable")),
    ];
    [
        (CORE_USER, "User", "User Account", user),
        (
            ENTERPRISE_USER,
            "EnterpriseUser",
            "Enterprise User",
            enterprise,
        ),
        (CORE_GROUP, "Group", "Group", group),
    ]
    .into_iter()
    .map(|(id, name, description, attributes)| {
        json!({
            "schemas": [SCHEMA_SCHEMA],
            "id": id,
            "name": name,
            "description": description,
            "attributes": attributes.iter().map(Attr::json).collect::<Vec<_>>(),
            "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")},
        })
    })
    .collect()
}

/// A ListResponse of everything (discovery lists are never paged).
pub fn list(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}
