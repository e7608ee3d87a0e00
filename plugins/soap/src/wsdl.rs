//! WSDL 1.1: what a call needs from the description. The target
//! namespace, the messages and their parts, the port types' operations,
//! the SOAP 1.1 and 1.2 bindings (`soapAction`, style, body namespace) and
//! the services' addresses. `wsdl:import` and `xsd:import` are not
//! followed: the operations of an imported description are not seen.

use crate::version::{SOAP11_BINDING_NS, SOAP12_BINDING_NS, SoapVersion};
use crate::xml::{self, Element};

pub const WSDL_NS: &str = "http://schemas.xmlsoap.org/wsdl/";
const XSD_NS: &str = "http://www.w3.org/2001/XMLSchema";

/// A qualified name: namespace (if any) and local name.
pub type QName = (Option<String>, String);

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Wsdl {
    pub name: Option<String>,
    pub target_namespace: String,
    /// Each inline schema's target namespace and whether its local
    /// elements are qualified (`elementFormDefault="qualified"`).
    pub schemas: Vec<(String, bool)>,
    pub messages: Vec<Message>,
    pub operations: Vec<Operation>,
    pub bindings: Vec<Binding>,
    pub ports: Vec<Port>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub name: String,
    pub parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    /// Document style: the element the part is.
    pub element: Option<QName>,
    /// RPC style: the part's type.
    pub type_: Option<QName>,
}

/// An operation of a port type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub port_type: String,
    pub name: String,
    pub documentation: String,
    /// The input message's local name.
    pub input: Option<String>,
    pub output: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub name: String,
    /// The port type's local name.
    pub port_type: String,
    pub version: SoapVersion,
    /// `document` (the default) or `rpc`.
    pub style: String,
    pub operations: Vec<BindingOperation>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingOperation {
    pub name: String,
    pub soap_action: String,
    pub style: Option<String>,
    /// `soap:body namespace` of the input (RPC style).
    pub namespace: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    pub service: String,
    pub name: String,
    /// The binding's local name.
    pub binding: String,
    pub version: SoapVersion,
    pub address: String,
}

/// How to call one operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallPlan {
    pub operation: String,
    pub version: SoapVersion,
    pub soap_action: String,
    /// The address from the WSDL, if a port names one.
    pub address: Option<String>,
    /// The element the body's content is wrapped in.
    pub wrapper: QName,
    /// Whether the wrapper's children are in its namespace.
    pub qualified: bool,
}

fn local_of(element: &Element, value: &str) -> String {
    element.resolve_qname(value).1.to_owned()
}

fn qname_of(element: &Element, value: &str) -> QName {
    let (ns, local) = element.resolve_qname(value);
    (ns, local.to_owned())
}

impl Wsdl {
    /// Parses a WSDL 1.1 document.
    pub fn parse(text: &str) -> Result<Wsdl, String> {
        let root = xml::parse(text)?;
        if !root.is(WSDL_NS, "definitions") {
            return Err(match root.ns.as_deref() {
                Some("http://www.w3.org/ns/wsdl") => {
                    "this is a WSDL 2.0 description; only WSDL 1.1 is supported".to_owned()
                }
                _ => format!(
                    "this is not a WSDL 1.1 description: its root is <{}>, not wsdl:definitions",
                    root.name
                ),
            });
        }
        let mut wsdl = Wsdl {
            name: root.attr("name").map(str::to_owned),
            target_namespace: root.attr("targetNamespace").unwrap_or_default().to_owned(),
            ..Wsdl::default()
        };
        for types in root.children_named(WSDL_NS, "types") {
            for schema in types.children_named(XSD_NS, "schema") {
                wsdl.schemas.push((
                    schema
                        .attr("targetNamespace")
                        .unwrap_or_default()
                        .to_owned(),
                    schema.attr("elementFormDefault") == Some("qualified"),
                ));
            }
        }
        for message in root.children_named(WSDL_NS, "message") {
            let Some(name) = message.attr("name") else {
                continue;
            };
            let parts = message
                .children_named(WSDL_NS, "part")
                .map(|part| Part {
                    name: part.attr("name").unwrap_or_default().to_owned(),
                    element: part.attr("element").map(|v| qname_of(part, v)),
                    type_: part.attr("type").map(|v| qname_of(part, v)),
                })
                .collect();
            wsdl.messages.push(Message {
                name: name.to_owned(),
                parts,
            });
        }
        for port_type in root.children_named(WSDL_NS, "portType") {
            let port_type_name = port_type.attr("name").unwrap_or_default();
            for op in port_type.children_named(WSDL_NS, "operation") {
                let Some(name) = op.attr("name") else {
                    continue;
                };
                let message = |kind: &str| {
                    op.child(WSDL_NS, kind)
                        .and_then(|e| e.attr("message").map(|m| local_of(e, m)))
                };
                wsdl.operations.push(Operation {
                    port_type: port_type_name.to_owned(),
                    name: name.to_owned(),
                    documentation: op
                        .child(WSDL_NS, "documentation")
                        .map(|d| {
                            d.text_content()
                                .split_whitespace()
                                .collect::<Vec<_>>()
                                .join(" ")
                        })
                        .unwrap_or_default(),
                    input: message("input"),
                    output: message("output"),
                });
            }
        }
        for binding in root.children_named(WSDL_NS, "binding") {
            let (version, soap) = if let Some(b) = binding.child(SOAP11_BINDING_NS, "binding") {
                (SoapVersion::V11, b)
            } else if let Some(b) = binding.child(SOAP12_BINDING_NS, "binding") {
                (SoapVersion::V12, b)
            } else {
                // An HTTP or MIME binding: not SOAP.
                continue;
            };
            let soap_ns = version.binding_ns();
            let operations = binding
                .children_named(WSDL_NS, "operation")
                .filter_map(|op| {
                    let name = op.attr("name")?;
                    let soap_op = op.child(soap_ns, "operation");
                    Some(BindingOperation {
                        name: name.to_owned(),
                        soap_action: soap_op
                            .and_then(|o| o.attr("soapAction"))
                            .unwrap_or_default()
                            .to_owned(),
                        style: soap_op.and_then(|o| o.attr("style")).map(str::to_owned),
                        namespace: op
                            .child(WSDL_NS, "input")
                            .and_then(|i| i.child(soap_ns, "body"))
                            .and_then(|b| b.attr("namespace"))
                            .map(str::to_owned),
                    })
                })
                .collect();
            wsdl.bindings.push(Binding {
                name: binding.attr("name").unwrap_or_default().to_owned(),
                port_type: binding
                    .attr("type")
                    .map(|t| local_of(binding, t))
                    .unwrap_or_default(),
                version,
                style: soap.attr("style").unwrap_or("document").to_owned(),
                operations,
            });
        }
        for service in root.children_named(WSDL_NS, "service") {
            let service_name = service.attr("name").unwrap_or_default();
            for port in service.children_named(WSDL_NS, "port") {
                let (version, address) = if let Some(a) = port.child(SOAP11_BINDING_NS, "address") {
                    (SoapVersion::V11, a)
                } else if let Some(a) = port.child(SOAP12_BINDING_NS, "address") {
                    (SoapVersion::V12, a)
                } else {
                    continue;
                };
                wsdl.ports.push(Port {
                    service: service_name.to_owned(),
                    name: port.attr("name").unwrap_or_default().to_owned(),
                    binding: port
                        .attr("binding")
                        .map(|b| local_of(port, b))
                        .unwrap_or_default(),
                    version,
                    address: address
                        .attr("location")
                        .unwrap_or_default()
                        .trim()
                        .to_owned(),
                });
            }
        }
        Ok(wsdl)
    }

    /// The operations' names, each once, in the description's order.
    pub fn operation_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for op in &self.operations {
            if !names.contains(&op.name.as_str()) {
                names.push(&op.name);
            }
        }
        names
    }

    /// The SOAP versions a binding offers `operation` in.
    pub fn versions_of(&self, operation: &str) -> Vec<SoapVersion> {
        let mut out = Vec::new();
        for binding in &self.bindings {
            if binding.operations.iter().any(|o| o.name == operation)
                && !out.contains(&binding.version)
            {
                out.push(binding.version);
            }
        }
        out
    }

    fn qualified(&self, ns: Option<&str>) -> bool {
        let ns = ns.unwrap_or_default();
        // A schema that is not inline (imported) is assumed qualified, as
        // document/literal services nearly always are.
        self.schemas
            .iter()
            .find(|(t, _)| t == ns)
            .is_none_or(|(_, q)| *q)
    }

    /// How to call `operation` in `version`: its binding's `soapAction`,
    /// the address of a port for that binding, and the body's wrapper
    /// element (the input part's element, or the operation's name in RPC
    /// style).
    pub fn plan(&self, operation: &str, version: SoapVersion) -> Result<CallPlan, String> {
        let Some(op) = self.operations.iter().find(|o| o.name == operation) else {
            let names = self.operation_names();
            return Err(if names.is_empty() {
                format!("the WSDL has no operation `{operation}` (it describes none)")
            } else {
                format!(
                    "the WSDL has no operation `{operation}`; it offers {}",
                    names.join(", ")
                )
            });
        };
        let bound = |binding: &&Binding| {
            (binding.port_type.is_empty() || binding.port_type == op.port_type)
                && binding.operations.iter().any(|o| o.name == operation)
        };
        let binding = self
            .bindings
            .iter()
            .filter(bound)
            .find(|b| b.version == version)
            .ok_or_else(|| {
                let offered = self.versions_of(operation);
                if offered.is_empty() {
                    format!("the WSDL binds `{operation}` to no SOAP binding")
                } else {
                    format!(
                        "the WSDL binds `{operation}` to {} only, not {}; choose that version",
                        offered
                            .iter()
                            .map(|v| v.name())
                            .collect::<Vec<_>>()
                            .join(" and "),
                        version.name()
                    )
                }
            })?;
        let bop = binding
            .operations
            .iter()
            .find(|o| o.name == operation)
            .ok_or_else(|| format!("the binding {} lacks `{operation}`", binding.name))?;
        let address = self
            .ports
            .iter()
            .find(|p| p.binding == binding.name && !p.address.is_empty())
            .map(|p| p.address.clone());
        let style = bop.style.as_deref().unwrap_or(&binding.style);
        let part = op
            .input
            .as_ref()
            .and_then(|m| self.messages.iter().find(|msg| &msg.name == m))
            .and_then(|m| m.parts.first());
        let (wrapper, qualified) = match part.and_then(|p| p.element.clone()) {
            Some(element) if style != "rpc" => {
                let qualified = self.qualified(element.0.as_deref());
                (element, qualified)
            }
            _ => {
                let ns = bop
                    .namespace
                    .clone()
                    .unwrap_or_else(|| self.target_namespace.clone());
                let ns = (!ns.is_empty()).then_some(ns);
                // RPC parts are unqualified accessors.
                let qualified = style != "rpc" && self.qualified(ns.as_deref());
                ((ns, operation.to_owned()), qualified)
            }
        };
        Ok(CallPlan {
            operation: operation.to_owned(),
            version,
            soap_action: bop.soap_action.clone(),
            address,
            wrapper,
            qualified,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const SPYNE_WSDL: &str = include_str!("../tests/seeds/wsdl-spyne-11.xml");

    #[test]
    fn reads_a_spyne_wsdl() {
        let wsdl = Wsdl::parse(SPYNE_WSDL).unwrap();
        assert_eq!(wsdl.target_namespace, "urn:cube:test:items");
        assert_eq!(
            wsdl.operation_names(),
            ["GetItems", "GetItem", "GetSecretItems"]
        );
        assert_eq!(wsdl.versions_of("GetItems"), [SoapVersion::V11]);
        let plan = wsdl.plan("GetItems", SoapVersion::V11).unwrap();
        assert_eq!(plan.soap_action, "GetItems");
        assert_eq!(
            plan.address.as_deref(),
            Some("http://127.0.0.1:18765/soap11")
        );
        assert_eq!(
            plan.wrapper,
            (Some("urn:cube:test:items".into()), "GetItems".into())
        );
        assert!(plan.qualified);
        let err = wsdl.plan("GetItems", SoapVersion::V12).unwrap_err();
        assert!(err.contains("SOAP 1.1 only"), "{err}");
        let err = wsdl.plan("Nope", SoapVersion::V11).unwrap_err();
        assert!(err.contains("GetItems, GetItem, GetSecretItems"), "{err}");
    }

    #[test]
    fn reads_rpc_and_soap12_bindings() {
        let wsdl = Wsdl::parse(
            r#"<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:s12="http://schemas.xmlsoap.org/wsdl/soap12/"
                 xmlns:t="urn:t" targetNamespace="urn:t">
              <message name="In"><part name="a" type="xsd:string"/></message>
              <portType name="P"><operation name="Echo"><documentation> Says
                 it back </documentation><input message="t:In"/></operation></portType>
              <binding name="B" type="t:P"><s12:binding style="rpc"/>
                <operation name="Echo"><s12:operation soapAction="urn:t#Echo"/>
                  <input><s12:body use="literal" namespace="urn:rpc"/></input></operation></binding>
              <service name="S"><port name="p" binding="t:B"><s12:address location=" https://x.example/ws "/></port></service>
            </definitions>"#,
        )
        .unwrap();
        assert_eq!(wsdl.operations[0].documentation, "Says it back");
        let plan = wsdl.plan("Echo", SoapVersion::V12).unwrap();
        assert_eq!(plan.soap_action, "urn:t#Echo");
        assert_eq!(plan.address.as_deref(), Some("https://x.example/ws"));
        assert_eq!(plan.wrapper, (Some("urn:rpc".into()), "Echo".into()));
        assert!(!plan.qualified);
    }

    #[test]
    fn refuses_what_is_not_wsdl_11() {
        assert!(Wsdl::parse("<html/>").unwrap_err().contains("not a WSDL"));
        assert!(
            Wsdl::parse("<description xmlns='http://www.w3.org/ns/wsdl'/>")
                .unwrap_err()
                .contains("2.0")
        );
    }
}
