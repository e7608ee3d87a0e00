//! SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2).
//!
//! A filter is parsed once into a [`Filter`] and evaluated against each
//! candidate resource as JSON ([`Filter::matches`]), so the same rules hold
//! whatever table a resource comes from. `not` binds tightest, then `and`,
//! then `or`, as the RFC's grammar says; parentheses group.
//!
//! Comparisons follow the RFC: attribute names and operators in any case;
//! a multi-valued attribute matches when any of its values does (a complex
//! one, such as `emails`, through its `value` sub-attribute unless a
//! sub-attribute is named); strings compare without case unless the
//! attribute is case-exact (`id`, `externalId`, `meta.version`, and the
//! `value` of `members`, `groups` and `manager`, which are ids).
//!
//! Filters come from whoever holds a token, so parsing is bounded: a filter
//! longer than [`MAX_FILTER_LEN`] or nested deeper than [`MAX_DEPTH`] is
//! refused instead of costing the server its stack.

use std::cmp::Ordering;
use std::fmt;

use serde_json::Value;

use tokens::{Token, tokenize};

mod tokens;

/// The core schemas: an attribute path prefixed with one of these is the
/// plain attribute.
pub const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// Longest filter or path read, in bytes.
pub const MAX_FILTER_LEN: usize = 4096;
/// Deepest nesting of parentheses, `not` and value filters.
pub const MAX_DEPTH: usize = 32;

/// Why a filter or path was refused, for the client (SCIM's `invalidFilter`
/// or `invalidPath`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError(pub String);

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FilterError {}

fn error<T>(message: impl Into<String>) -> Result<T, FilterError> {
    Err(FilterError(message.into()))
}

/// An attribute, perhaps of an extension schema, perhaps one of its
/// sub-attributes: `userName`, `name.familyName`,
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrPath {
    /// The schema URN before the attribute, as written; `None` when absent.
    pub schema: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

impl AttrPath {
    pub fn parse(text: &str) -> Result<Self, FilterError> {
        let text = text.trim();
        let (schema, rest) = if text.len() > 4 && text[..4].eq_ignore_ascii_case("urn:") {
            match text.rfind(':') {
                Some(at) => (Some(text[..at].to_owned()), &text[at + 1..]),
                None => (None, text),
            }
        } else {
            (None, text)
        };
        let (name, sub) = match rest.split_once('.') {
            Some((name, sub)) => (name, Some(sub)),
            None => (rest, None),
        };
        if !is_attr_name(name) || sub.is_some_and(|s| !is_attr_name(s)) {
            return error(format!("`{text}` is not an attribute path"));
        }
        Ok(AttrPath {
            schema,
            name: name.to_owned(),
            sub: sub.map(str::to_owned),
        })
    }

    /// Whether the path names an attribute of an extension rather than of
    /// the resource's core schema.
    pub fn extension(&self) -> Option<&str> {
        self.schema
            .as_deref()
            .filter(|s| !s.eq_ignore_ascii_case(CORE_USER) && !s.eq_ignore_ascii_case(CORE_GROUP))
    }

    /// Whether its values compare with case (RFC 7643 §4, `caseExact`);
    /// `parent` is the complex attribute a value filter's path is inside.
    fn case_exact(&self, parent: Option<&str>) -> bool {
        let is = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        let (name, sub) = match parent {
            Some(parent) => (parent, Some(self.name.as_str())),
            None => (self.name.as_str(), self.sub.as_deref()),
        };
        is(name, "id")
            || is(name, "externalId")
            || (is(name, "meta") && sub.is_some_and(|s| is(s, "version")))
            || (["members", "groups", "manager"].iter().any(|n| is(name, n))
                && sub.is_none_or(|s| is(s, "value")))
    }
}

/// ATTRNAME of RFC 7644's grammar, and `$ref`.
fn is_attr_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '$' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            _ => return None,
        })
    }
}

/// A parsed filter.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// `attr pr`: the attribute has a value.
    Present(AttrPath),
    /// `attr op value`.
    Compare(AttrPath, CompareOp, Value),
    /// `attr[filter]`: some value of a complex attribute matches `filter`,
    /// whose paths are the value's sub-attributes.
    ValuePath(AttrPath, Box<Filter>),
    Not(Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
}

impl Filter {
    pub fn parse(text: &str) -> Result<Self, FilterError> {
        if text.len() > MAX_FILTER_LEN {
            return error(format!("a filter is at most {MAX_FILTER_LEN} bytes"));
        }
        let mut parser = Parser {
            tokens: tokenize(text)?,
            at: 0,
        };
        if parser.tokens.is_empty() {
            return error("the filter is empty");
        }
        let filter = parser.or(0)?;
        match parser.tokens.get(parser.at) {
            None => Ok(filter),
            Some(token) => error(format!("unexpected {token} after a complete filter")),
        }
    }

    /// Whether `resource` (a SCIM resource as JSON) matches.
    pub fn matches(&self, resource: &Value) -> bool {
        self.matches_in(resource, None)
    }

    /// Whether one value of the multi-valued attribute `parent` matches:
    /// a PATCH path's value filter (`members[value eq "..."]`).
    pub fn matches_value_of(&self, parent: &AttrPath, value: &Value) -> bool {
        self.matches_in(value, Some(&parent.name))
    }

    fn matches_in(&self, resource: &Value, parent: Option<&str>) -> bool {
        match self {
            Filter::Present(path) => values(resource, path).into_iter().any(is_present),
            Filter::Compare(path, CompareOp::Ne, target) => !values(resource, path)
                .into_iter()
                .any(|v| compare(v, CompareOp::Eq, target, path.case_exact(parent))),
            Filter::Compare(path, op, target) => values(resource, path)
                .into_iter()
                .any(|v| compare(v, *op, target, path.case_exact(parent))),
            Filter::ValuePath(path, inner) => attribute(resource, path)
                .map(as_list)
                .unwrap_or_default()
                .into_iter()
                .any(|element| inner.matches_in(element, Some(&path.name))),
            Filter::Not(inner) => !inner.matches_in(resource, parent),
            Filter::And(a, b) => a.matches_in(resource, parent) && b.matches_in(resource, parent),
            Filter::Or(a, b) => a.matches_in(resource, parent) || b.matches_in(resource, parent),
        }
    }

    /// The value a top-level `attr eq "value"` asks for, alone or as one
    /// side of an `and`: what a store can look up by index before the
    /// filter checks the rest. `name` is compared without case.
    pub fn equality_on(&self, name: &str) -> Option<&str> {
        match self {
            Filter::Compare(path, CompareOp::Eq, Value::String(value))
                if path.sub.is_none()
                    && path.extension().is_none()
                    && path.name.eq_ignore_ascii_case(name) =>
            {
                Some(value)
            }
            Filter::And(a, b) => a.equality_on(name).or_else(|| b.equality_on(name)),
            _ => None,
        }
    }

    /// Whether any path of the filter names the attribute `name`.
    pub fn mentions(&self, name: &str) -> bool {
        match self {
            Filter::Present(path) | Filter::Compare(path, ..) => {
                path.name.eq_ignore_ascii_case(name)
            }
            Filter::ValuePath(path, _) => path.name.eq_ignore_ascii_case(name),
            Filter::Not(inner) => inner.mentions(name),
            Filter::And(a, b) | Filter::Or(a, b) => a.mentions(name) || b.mentions(name),
        }
    }
}

/// The target of a PATCH operation: `members`, `name.givenName`,
/// `members[value eq "2819c223"]`, `emails[type eq "work"].value`.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    /// Which values of a multi-valued attribute the operation is about.
    pub filter: Option<Filter>,
    /// The sub-attribute of those values (after `]`).
    pub sub: Option<String>,
}

impl PatchPath {
    pub fn parse(text: &str) -> Result<Self, FilterError> {
        let text = text.trim();
        if text.len() > MAX_FILTER_LEN {
            return error(format!("a path is at most {MAX_FILTER_LEN} bytes"));
        }
        let Some(open) = text.find('[') else {
            return Ok(PatchPath {
                attr: AttrPath::parse(text)?,
                filter: None,
                sub: None,
            });
        };
        let attr = AttrPath::parse(&text[..open])?;
        if attr.sub.is_some() {
            return error(format!(
                "`{text}`: a value filter follows a multi-valued attribute, not a sub-attribute"
            ));
        }
        let Some(close) = text.rfind(']').filter(|close| *close > open) else {
            return error(format!("`{text}`: `[` without its `]`"));
        };
        let filter = Filter::parse(&text[open + 1..close])?;
        let sub = match &text[close + 1..] {
            "" => None,
            rest => match rest.strip_prefix('.') {
                Some(sub) if is_attr_name(sub) => Some(sub.to_owned()),
                _ => return error(format!("`{text}`: after `]` comes `.` and a sub-attribute")),
            },
        };
        Ok(PatchPath {
            attr,
            filter: Some(filter),
            sub,
        })
    }
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn keyword(&mut self, word: &str) -> bool {
        match self.tokens.get(self.at) {
            Some(Token::Word(w)) if w.eq_ignore_ascii_case(word) => {
                self.at += 1;
                true
            }
            _ => false,
        }
    }

    fn expect(&mut self, wanted: Token) -> Result<(), FilterError> {
        match self.next() {
            Some(token) if token == wanted => Ok(()),
            Some(token) => error(format!("expected {wanted}, found {token}")),
            None => error(format!("expected {wanted}, found the end of the filter")),
        }
    }

    fn or(&mut self, depth: usize) -> Result<Filter, FilterError> {
        let mut left = self.and(depth)?;
        while self.keyword("or") {
            left = Filter::Or(Box::new(left), Box::new(self.and(depth)?));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<Filter, FilterError> {
        let mut left = self.unary(depth)?;
        while self.keyword("and") {
            left = Filter::And(Box::new(left), Box::new(self.unary(depth)?));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Filter, FilterError> {
        if depth >= MAX_DEPTH {
            return error(format!("a filter nests at most {MAX_DEPTH} deep"));
        }
        if self.keyword("not") {
            self.expect(Token::Open)?;
            let inner = self.or(depth + 1)?;
            self.expect(Token::Close)?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        match self.next() {
            Some(Token::Open) => {
                let inner = self.or(depth + 1)?;
                self.expect(Token::Close)?;
                Ok(inner)
            }
            Some(Token::Word(word)) => self.attribute_expression(&word, depth),
            Some(token) => error(format!("expected an attribute, found {token}")),
            None => error("the filter ends where an attribute was expected"),
        }
    }

    fn attribute_expression(&mut self, word: &str, depth: usize) -> Result<Filter, FilterError> {
        let path = AttrPath::parse(word)?;
        if self.tokens.get(self.at) == Some(&Token::OpenBracket) {
            self.at += 1;
            if path.sub.is_some() {
                return error(format!("`{word}[`: a value filter follows an attribute"));
            }
            let inner = self.or(depth + 1)?;
            self.expect(Token::CloseBracket)?;
            return Ok(Filter::ValuePath(path, Box::new(inner)));
        }
        let op = match self.next() {
            Some(Token::Word(op)) if op.eq_ignore_ascii_case("pr") => {
                return Ok(Filter::Present(path));
            }
            Some(Token::Word(op)) => CompareOp::parse(&op).ok_or_else(|| {
                FilterError(format!(
                    "`{op}` is not an operator (eq ne co sw ew gt ge lt le pr)"
                ))
            })?,
            Some(token) => {
                return error(format!(
                    "expected an operator after `{word}`, found {token}"
                ));
            }
            None => return error(format!("`{word}` is not followed by an operator")),
        };
        let value = match self.next() {
            Some(Token::Text(text)) => Value::String(text),
            Some(Token::Number(number)) => Value::Number(number),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Value::Bool(true),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Value::Bool(false),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("null") => Value::Null,
            Some(token) => {
                return error(format!(
                    "expected a value after the operator, found {token}"
                ));
            }
            None => return error("the filter ends where a value was expected"),
        };
        let ordered = matches!(
            op,
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
        );
        let textual = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
        if (ordered && !(value.is_string() || value.is_number())) || (textual && !value.is_string())
        {
            return error(format!(
                "`{word}`: this operator does not compare with {value}"
            ));
        }
        Ok(Filter::Compare(path, op, value))
    }
}

/// The member of `object` named `key`, in any case.
pub fn member<'a>(object: &'a Value, key: &str) -> Option<&'a Value> {
    let object = object.as_object()?;
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// The attribute a path names (not its sub-attribute).
fn attribute<'a>(resource: &'a Value, path: &AttrPath) -> Option<&'a Value> {
    let scope = match path.extension() {
        Some(schema) => member(resource, schema)?,
        None => resource,
    };
    member(scope, &path.name)
}

fn as_list(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

/// The values a path names: each value of a multi-valued attribute, the
/// named sub-attribute of each, or a complex value's `value`.
fn values<'a>(resource: &'a Value, path: &AttrPath) -> Vec<&'a Value> {
    let Some(base) = attribute(resource, path) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for element in as_list(base) {
        match (&path.sub, element) {
            (Some(sub), _) => {
                if let Some(value) = member(element, sub) {
                    out.extend(as_list(value));
                }
            }
            (None, Value::Object(_)) => {
                if let Some(value) = member(element, "value") {
                    out.push(value);
                }
            }
            (None, _) => out.push(element),
        }
    }
    out
}

fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn compare(value: &Value, op: CompareOp, target: &Value, case_exact: bool) -> bool {
    let fold = |s: &str| {
        if case_exact {
            s.to_owned()
        } else {
            s.to_lowercase()
        }
    };
    match (value, target) {
        (Value::String(v), Value::String(t)) => {
            let (v, t) = (fold(v), fold(t));
            match op {
                CompareOp::Eq | CompareOp::Ne => v == t,
                CompareOp::Co => v.contains(&t),
                CompareOp::Sw => v.starts_with(&t),
                CompareOp::Ew => v.ends_with(&t),
                ordered => ordering_holds(ordered, v.cmp(&t)),
            }
        }
        (Value::Number(v), Value::Number(t)) => {
            let (Some(v), Some(t)) = (v.as_f64(), t.as_f64()) else {
                return false;
            };
            match op {
                CompareOp::Eq | CompareOp::Ne => v == t,
                CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
                ordered => v
                    .partial_cmp(&t)
                    .is_some_and(|o| ordering_holds(ordered, o)),
            }
        }
        // Booleans, as the RFC writes them, and as some clients send them
        // ("True"), compare with a boolean attribute.
        (Value::Bool(v), Value::Bool(t)) => matches!(op, CompareOp::Eq) && v == t,
        (Value::Bool(v), Value::String(t)) | (Value::String(t), Value::Bool(v))
            if matches!(op, CompareOp::Eq) =>
        {
            t.eq_ignore_ascii_case(if *v { "true" } else { "false" })
        }
        _ => false,
    }
}

fn ordering_holds(op: CompareOp, ordering: Ordering) -> bool {
    match op {
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        _ => false,
    }
}

#[cfg(test)]
mod tests;
