//! A small element tree read with quick-xml, with namespaces resolved by
//! hand so that QName *values* (`element="tns:GetItems"`, a fault's
//! `soap:Client`) resolve as well as element names.
//!
//! Untrusted input: nesting is bounded ([`MAX_DEPTH`]), so neither the
//! tree's building nor its recursive readers can exhaust the stack, and
//! every malformation is an `Err` with a position, never a panic.

use std::rc::Rc;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// How deep elements may nest. SOAP and WSDL documents rarely pass 20.
pub const MAX_DEPTH: usize = 256;

/// The `xml` prefix's namespace, bound in every document.
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// An element: its names, attributes, children and direct text.
#[derive(Clone, Debug)]
pub struct Element {
    /// The name as written (`tns:GetItems`).
    pub name: String,
    /// The namespace the name resolves to (`None`: no namespace).
    pub ns: Option<String>,
    pub local: String,
    /// Attributes as written (qualified name, unescaped value), without the
    /// namespace declarations.
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    /// The text directly inside (CDATA included), entities resolved.
    pub text: String,
    /// The namespace bindings in scope (prefix, `""` for the default,
    /// to URI); later entries win. Shared with ancestors when unchanged.
    scope: Rc<Vec<(String, String)>>,
}

impl Element {
    /// An attribute by its name as written, for unprefixed ones
    /// (`soapAction`, `name`).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// An attribute by namespace and local name (`xsi:nil`).
    pub fn attr_ns(&self, ns: &str, local: &str) -> Option<&str> {
        self.attrs.iter().find_map(|(name, value)| {
            let (prefix, l) = name.split_once(':')?;
            (l == local && self.namespace_of(prefix) == Some(ns)).then_some(value.as_str())
        })
    }

    /// The URI a prefix (`""`: the default namespace) is bound to here.
    pub fn namespace_of(&self, prefix: &str) -> Option<&str> {
        if prefix == "xml" {
            return Some(XML_NS);
        }
        self.scope
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, uri)| uri.as_str())
            .filter(|uri| !uri.is_empty())
    }

    /// Resolves a QName value written in this element (`tns:GetItems`)
    /// into (namespace, local name). An unprefixed value takes the default
    /// namespace, as WSDL and XSD references do.
    pub fn resolve_qname<'v>(&self, value: &'v str) -> (Option<String>, &'v str) {
        let value = value.trim();
        match value.split_once(':') {
            Some((prefix, local)) => (self.namespace_of(prefix).map(str::to_owned), local),
            None => (self.namespace_of("").map(str::to_owned), value),
        }
    }

    /// Whether this element is `local` in namespace `ns`.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.local == local && self.ns.as_deref() == Some(ns)
    }

    /// The children named `local` in `ns`.
    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        local: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.is(ns, local))
    }

    /// The first child named `local` in `ns`.
    pub fn child(&self, ns: &str, local: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(ns, local))
    }

    /// The first child with this local name, whatever its namespace.
    pub fn child_local(&self, local: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.local == local)
    }

    /// All the text inside, descendants' included, in document order.
    pub fn text_content(&self) -> String {
        let mut out = self.text.clone();
        for child in &self.children {
            out.push_str(&child.text_content());
        }
        out
    }
}

/// Parses a whole document into its root element.
pub fn parse(input: &str) -> Result<Element, String> {
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    let mut reader = Reader::from_str(input);
    reader.config_mut().check_end_names = true;
    let root_scope: Rc<Vec<(String, String)>> = Rc::new(Vec::new());
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let at = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| format!("malformed XML at byte {at}: {e}"))?;
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!(
                        "the XML nests deeper than {MAX_DEPTH} elements (at byte {at})"
                    ));
                }
                if root.is_some() {
                    return Err(format!("a second root element at byte {at}"));
                }
                let scope = stack.last().map_or(&root_scope, |p| &p.scope).clone();
                stack.push(element(&start, scope, at)?);
            }
            Event::Empty(start) => {
                if root.is_some() {
                    return Err(format!("a second root element at byte {at}"));
                }
                let scope = stack.last().map_or(&root_scope, |p| &p.scope).clone();
                let done = element(&start, scope, at)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::End(_) => {
                let done = stack
                    .pop()
                    .ok_or_else(|| format!("an end tag without a start at byte {at}"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(text) => {
                let text = text
                    .decode()
                    .map_err(|e| format!("undecodable text at byte {at}: {e}"))?;
                push_text(&mut stack, &text, at)?;
            }
            Event::CData(data) => {
                let text = data
                    .decode()
                    .map_err(|e| format!("undecodable CDATA at byte {at}: {e}"))?;
                push_text(&mut stack, &text, at)?;
            }
            Event::GeneralRef(reference) => {
                let text = match reference
                    .resolve_char_ref()
                    .map_err(|e| format!("a bad character reference at byte {at}: {e}"))?
                {
                    Some(c) => c.to_string(),
                    None => {
                        let name = reference
                            .decode()
                            .map_err(|e| format!("undecodable reference at byte {at}: {e}"))?;
                        predefined_entity(&name)
                            .ok_or_else(|| format!("an unknown entity &{name}; at byte {at}"))?
                            .to_owned()
                    }
                };
                push_text(&mut stack, &text, at)?;
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!(
            "the XML ends before the element <{}> is closed",
            open.name
        ));
    }
    root.ok_or_else(|| "no XML element found".to_owned())
}

fn predefined_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "lt" => "<",
        "gt" => ">",
        "amp" => "&",
        "apos" => "'",
        "quot" => "\"",
        _ => return None,
    })
}

fn push_text(stack: &mut [Element], text: &str, at: u64) -> Result<(), String> {
    match stack.last_mut() {
        Some(open) => {
            open.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(format!("text outside the root element at byte {at}")),
    }
}

fn element(
    start: &BytesStart<'_>,
    parent_scope: Rc<Vec<(String, String)>>,
    at: u64,
) -> Result<Element, String> {
    let name = std::str::from_utf8(start.name().as_ref())
        .map_err(|_| format!("an element name that is not UTF-8 at byte {at}"))?
        .to_owned();
    let mut attrs = Vec::new();
    let mut declared = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| format!("a malformed attribute at byte {at}: {e}"))?;
        let key = std::str::from_utf8(attr.key.as_ref())
            .map_err(|_| format!("an attribute name that is not UTF-8 at byte {at}"))?
            .to_owned();
        let value = attr
            .unescape_value()
            .map_err(|e| format!("a malformed value of attribute {key} at byte {at}: {e}"))?
            .into_owned();
        if key == "xmlns" {
            declared.push((String::new(), value));
        } else if let Some(prefix) = key.strip_prefix("xmlns:") {
            if prefix.is_empty() || value.is_empty() {
                return Err(format!("a malformed namespace declaration at byte {at}"));
            }
            declared.push((prefix.to_owned(), value));
        } else {
            attrs.push((key, value));
        }
    }
    let scope = if declared.is_empty() {
        parent_scope
    } else {
        let mut scope = (*parent_scope).clone();
        scope.extend(declared);
        Rc::new(scope)
    };
    let mut element = Element {
        ns: None,
        local: String::new(),
        attrs,
        children: Vec::new(),
        text: String::new(),
        scope,
        name,
    };
    let (prefix, local) = match element.name.split_once(':') {
        Some((prefix, local)) => (prefix, local),
        None => ("", element.name.as_str()),
    };
    if local.is_empty() || local.contains(':') {
        return Err(format!(
            "a malformed element name <{}> at byte {at}",
            element.name
        ));
    }
    let ns = element.namespace_of(prefix).map(str::to_owned);
    if ns.is_none() && !prefix.is_empty() {
        return Err(format!(
            "the prefix `{prefix}` of <{}> is not declared (at byte {at})",
            element.name
        ));
    }
    element.local = local.to_owned();
    element.ns = ns;
    Ok(element)
}

/// Escapes text for an element's content or an attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_and_text_unescapes() {
        let root = parse(
            "\u{feff}<?xml version='1.0'?><a:x xmlns:a='urn:a' xmlns='urn:d'><y k='1 &amp; 2'>p &lt;4&gt; &#65;<![CDATA[<raw>]]></y><a:z/></a:x>",
        )
        .unwrap();
        assert!(root.is("urn:a", "x"));
        let y = root.child("urn:d", "y").unwrap();
        assert_eq!(y.text, "p <4> A<raw>");
        assert_eq!(y.attr("k"), Some("1 & 2"));
        assert!(root.child("urn:a", "z").is_some());
        assert_eq!(
            y.resolve_qname("a:Thing"),
            (Some("urn:a".to_owned()), "Thing")
        );
        assert_eq!(
            y.resolve_qname("Plain"),
            (Some("urn:d".to_owned()), "Plain")
        );
        assert_eq!(root.text_content(), "p <4> A<raw>");
    }

    #[test]
    fn malformations_are_errors() {
        for bad in [
            "",
            "<a>",
            "<a></b>",
            "<a/><b/>",
            "<p:a/>",
            "<a>&nope;</a>",
            "text",
            "<a x='1' x='2'/>",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert!(parse(&deep).unwrap_err().contains("deeper"));
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
    }
}
