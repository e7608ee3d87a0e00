//! Checks requests against Atlassian's OpenAPI description of the Jira Cloud
//! platform REST API v3, trimmed to the operations the fake serves
//! (`test-support/fixtures/`, where its source, version and licence are
//! noted): path template, method, query and path parameters, and JSON
//! bodies against the operation's request schema. Written for this fake; it
//! knows the subset of OpenAPI 3.0 schema keywords the description uses.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::Value;

/// The description, carried in the checkout (see `fixtures/README.md`).
const DESCRIPTION: &str = include_str!("../../fixtures/jira-cloud-platform-v3.trimmed.json");

/// Path parameters: name, value.
type Params = Vec<(String, String)>;

pub struct Spec {
    doc: Value,
    /// Every path template, split on `/`, with its key in `paths`.
    templates: Vec<(Vec<String>, String)>,
}

/// The description, parsed once per process.
pub fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let doc: Value = serde_json::from_str(DESCRIPTION).expect("the Jira OpenAPI description");
        let templates = doc["paths"]
            .as_object()
            .expect("paths")
            .keys()
            .map(|k| (k.split('/').map(str::to_owned).collect(), k.clone()))
            .collect();
        Spec { doc, templates }
    })
}

/// A request as the validator sees it; `path` is the v3 path.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// What the validator found: the problems, whether Atlassian marks the
/// operation deprecated, and the values Jira would coerce.
#[derive(Default)]
pub struct Outcome {
    pub problems: Vec<String>,
    pub deprecated: bool,
    /// A JSON number sent where the description declares a string. Jira's
    /// JSON reader (Jackson, scalar coercion on) takes it as the string, and
    /// the widely used `jira` Python client relies on it (it sends
    /// transition ids as numbers): accepted, but reported as a warning.
    pub coerced: Vec<String>,
}

/// The end of a problem that is a coercion, not a refusal.
const COERCED: &str = "a number where the description declares a string (Jira coerces it)";

impl Spec {
    /// The path template `path` matches, and its parameters; literal
    /// segments win over templated ones (`/project/search` over
    /// `/project/{projectIdOrKey}`).
    fn find_path(&self, path: &str) -> Option<(&str, Params)> {
        let segments: Vec<&str> = path.split('/').collect();
        // (which segments are literal, template, parameters)
        let mut best: Option<(Vec<bool>, &str, Params)> = None;
        'templates: for (template, key) in &self.templates {
            if template.len() != segments.len() {
                continue;
            }
            let mut rank = Vec::new();
            let mut params = Vec::new();
            for (t, s) in template.iter().zip(&segments) {
                if let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                    if s.is_empty() {
                        continue 'templates;
                    }
                    let value = percent_encoding::percent_decode_str(s).decode_utf8_lossy();
                    params.push((name.to_owned(), value.into_owned()));
                    rank.push(false);
                } else if t == s {
                    rank.push(true);
                } else {
                    continue 'templates;
                }
            }
            if best.as_ref().is_none_or(|(r, _, _)| rank > *r) {
                best = Some((rank, key, params));
            }
        }
        best.map(|(_, key, params)| (key, params))
    }

    fn resolve<'s>(&'s self, mut schema: &'s Value) -> &'s Value {
        while let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unsupported $ref {r}"));
            schema = &self.doc["components"]["schemas"][name];
        }
        schema
    }

    /// Every problem with `req`.
    pub fn validate(&self, req: &Request) -> Outcome {
        let mut out = Outcome::default();
        let Some((template, path_values)) = self.find_path(req.path) else {
            out.problems
                .push("no such path in the OpenAPI description".into());
            return out;
        };
        let item = &self.doc["paths"][template];
        let method = req.method.to_ascii_lowercase();
        let Some(op) = item.get(&method) else {
            let allowed: Vec<_> = item
                .as_object()
                .into_iter()
                .flat_map(|o| o.keys())
                .filter(|k| *k != "parameters")
                .map(|k| k.to_uppercase())
                .collect();
            out.problems.push(format!(
                "{template} has no {} operation (it has {})",
                req.method,
                allowed.join(", ")
            ));
            return out;
        };
        out.deprecated = op["deprecated"].as_bool().unwrap_or(false);
        // Path-level parameters, overridden by the operation's.
        let mut declared: BTreeMap<(String, String), &Value> = BTreeMap::new();
        for p in [&item["parameters"], &op["parameters"]]
            .into_iter()
            .filter_map(Value::as_array)
            .flatten()
        {
            let key = (
                p["in"].as_str().unwrap_or("").to_owned(),
                p["name"].as_str().unwrap_or("").to_owned(),
            );
            declared.insert(key, p);
        }
        for (name, value) in &path_values {
            if let Some(p) = declared.get(&("path".into(), name.clone())) {
                self.check_param(
                    &format!("path parameter {name}"),
                    &p["schema"],
                    &[value],
                    &mut out.problems,
                );
            }
        }
        let mut received: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (name, value) in req.query {
            received.entry(name).or_default().push(value);
        }
        for (name, values) in &received {
            match declared.get(&("query".into(), (*name).to_owned())) {
                None => out.problems.push(format!(
                    "query parameter '{name}' is not declared by {} {template}",
                    req.method
                )),
                Some(p) => self.check_param(
                    &format!("query parameter {name}"),
                    &p["schema"],
                    values,
                    &mut out.problems,
                ),
            }
        }
        for ((place, name), p) in &declared {
            if place == "query"
                && p["required"].as_bool() == Some(true)
                && !received.contains_key(name.as_str())
            {
                out.problems
                    .push(format!("required query parameter '{name}' is missing"));
            }
        }
        self.check_body(op, req, &mut out.problems);
        let (coerced, problems) = out.problems.into_iter().partition(|p| p.ends_with(COERCED));
        out.problems = problems;
        out.coerced = coerced;
        out
    }

    fn check_param(&self, what: &str, schema: &Value, values: &[&str], problems: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if schema["type"] == "array" {
            let items = self.resolve(&schema["items"]);
            for value in values.iter().flat_map(|v| v.split(',')) {
                if let Some(problem) = scalar_problem(items, value) {
                    problems.push(format!("{what}: {problem}"));
                }
            }
            return;
        }
        if values.len() > 1 {
            problems.push(format!("{what} is given {} times", values.len()));
        }
        if let Some(problem) = values.first().and_then(|v| scalar_problem(schema, v)) {
            problems.push(format!("{what}: {problem}"));
        }
    }

    fn check_body(&self, op: &Value, req: &Request, problems: &mut Vec<String>) {
        let Some(request_body) = op.get("requestBody") else {
            if !req.body.is_empty() {
                problems.push("the operation takes no request body, but one was sent".into());
            }
            return;
        };
        if req.body.is_empty() {
            if request_body["required"].as_bool() == Some(true) {
                problems.push("the request body is required".into());
            }
            return;
        }
        let content = &request_body["content"];
        let media = req
            .content_type
            .map(|c| {
                c.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        if content.get(&media).is_none() && content.get("*/*").is_none() {
            problems.push(format!(
                "Content-Type '{media}' is not one the operation accepts (Jira answers 415)"
            ));
            return;
        }
        let Some(schema) = content
            .get(&media)
            .or(content.get("*/*"))
            .map(|c| &c["schema"])
        else {
            return;
        };
        if !media.ends_with("json") {
            return;
        }
        match serde_json::from_slice::<Value>(req.body) {
            Err(e) => problems.push(format!("the body is not JSON: {e}")),
            Ok(value) => self.check(schema, &value, "body", problems),
        }
    }

    /// Checks `value` against `schema`, adding a line per problem.
    pub fn check(&self, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if let Some(all) = schema["allOf"].as_array() {
            for s in all {
                self.check(s, value, at, problems);
            }
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(choices) = schema[key].as_array() {
                let mut first = Vec::new();
                let fits = choices.iter().any(|s| {
                    let mut p = Vec::new();
                    self.check(s, value, at, &mut p);
                    if first.is_empty() {
                        first = p.clone();
                    }
                    p.is_empty()
                });
                if !fits {
                    problems.push(format!(
                        "{at}: matches none of the {key} schemas ({})",
                        first.join("; ")
                    ));
                }
            }
        }
        if value.is_null() {
            if schema.get("type").is_some() && schema["nullable"] != true {
                problems.push(format!("{at}: must not be null"));
            }
            return;
        }
        if schema["type"] == "string" && value.is_number() {
            problems.push(format!("{at}: {COERCED}"));
            return;
        }
        if let Some(t) = schema["type"].as_str()
            && !type_fits(t, value)
        {
            problems.push(format!("{at}: expected {t}, got {}", json_type(value)));
            return;
        }
        if let Some(options) = schema["enum"].as_array()
            && !options.contains(value)
        {
            problems.push(format!(
                "{at}: {value} is not one of {}",
                Value::Array(options.clone())
            ));
        }
        match value {
            Value::String(s) => {
                let len = s.chars().count() as u64;
                if schema["maxLength"].as_u64().is_some_and(|max| len > max) {
                    problems.push(format!(
                        "{at}: longer than maxLength {}",
                        schema["maxLength"]
                    ));
                }
                if schema["minLength"].as_u64().is_some_and(|min| len < min) {
                    problems.push(format!(
                        "{at}: shorter than minLength {}",
                        schema["minLength"]
                    ));
                }
            }
            Value::Number(n) => {
                let n = n.as_f64().unwrap_or(0.0);
                if schema["maximum"].as_f64().is_some_and(|max| n > max) {
                    problems.push(format!("{at}: above maximum {}", schema["maximum"]));
                }
                if schema["minimum"].as_f64().is_some_and(|min| n < min) {
                    problems.push(format!("{at}: below minimum {}", schema["minimum"]));
                }
            }
            Value::Array(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item_schema, item, &format!("{at}[{i}]"), problems);
                    }
                }
                if schema["uniqueItems"] == true
                    && items
                        .iter()
                        .enumerate()
                        .any(|(i, a)| items[..i].contains(a))
                {
                    problems.push(format!("{at}: items must be unique"));
                }
            }
            Value::Object(map) => self.check_object(schema, map, at, problems),
            _ => {}
        }
    }

    fn check_object(
        &self,
        schema: &Value,
        map: &serde_json::Map<String, Value>,
        at: &str,
        problems: &mut Vec<String>,
    ) {
        for name in schema["required"].as_array().into_iter().flatten() {
            if let Some(name) = name.as_str()
                && !map.contains_key(name)
            {
                problems.push(format!("{at}: required property '{name}' is missing"));
            }
        }
        let properties = &schema["properties"];
        for (name, value) in map {
            let here = format!("{at}.{name}");
            if let Some(prop) = properties.get(name) {
                let read_only = prop["readOnly"] == true || self.resolve(prop)["readOnly"] == true;
                if read_only {
                    problems.push(format!("{here}: is read-only and must not be sent"));
                } else {
                    self.check(prop, value, &here, problems);
                }
                continue;
            }
            match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => problems.push(format!(
                    "{here}: unknown property (additionalProperties is false)"
                )),
                Some(extra @ Value::Object(_)) => self.check(extra, value, &here, problems),
                _ => {}
            }
        }
    }
}

/// Whether a query or path parameter's text fits a scalar schema.
fn scalar_problem(schema: &Value, text: &str) -> Option<String> {
    let fits = match schema["type"].as_str() {
        Some("integer") => text.parse::<i64>().is_ok(),
        Some("number") => text.parse::<f64>().is_ok(),
        Some("boolean") => text == "true" || text == "false",
        _ => true,
    };
    if !fits {
        return Some(format!(
            "'{text}' is not of type {}",
            schema["type"].as_str().unwrap_or("")
        ));
    }
    if let Some(options) = schema["enum"].as_array()
        && !options.iter().any(|o| o.as_str() == Some(text))
    {
        return Some(format!(
            "'{text}' is not one of {}",
            Value::Array(options.clone())
        ));
    }
    None
}

fn type_fits(t: &str, value: &Value) -> bool {
    match t {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
