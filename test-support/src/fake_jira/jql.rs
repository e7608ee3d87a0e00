//! A small JQL evaluator for what a connector sends: `project`, `key`,
//! `status`, `priority`, `issuetype`, `assignee`, `reporter`, `labels`,
//! `summary ~`, `updated`/`created` comparisons (minute precision, in the
//! user's time zone, UTC here), `AND`, `OR`, `NOT`, parentheses, `IN`,
//! `IS [NOT] EMPTY` and `ORDER BY`. Errors read like Jira's.

use super::clauses::compile;
use super::state::{Inner, Issue};

pub type Pred = Box<dyn Fn(&Issue) -> bool>;

#[derive(Clone, Copy)]
enum Sort {
    Updated,
    Created,
    Key,
    Priority,
    Status,
    Summary,
}

pub struct Query {
    filter: Option<Pred>,
    order: Vec<(Sort, bool)>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Op(&'static str),
    Open,
    Close,
    Comma,
}

pub enum Val {
    Text(String),
    Empty,
    Func(String),
}

fn syntax(detail: impl std::fmt::Display) -> String {
    format!("Error in the JQL Query: {detail}")
}

fn tokenize(jql: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = jql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        i += 1;
        match c {
            _ if c.is_whitespace() => {}
            '(' => out.push(Tok::Open),
            ')' => out.push(Tok::Close),
            ',' => out.push(Tok::Comma),
            '"' | '\'' => {
                let start = i;
                let mut s = String::new();
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(syntax(format!(
                                "The quoted string '{s}' has not been completed. (line 1, character {start})"
                            )));
                        }
                        Some('\\') if i + 1 < chars.len() => {
                            s.push(chars[i + 1]);
                            i += 2;
                        }
                        Some(&ch) if ch == c => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            '=' | '~' | '<' | '>' | '!' => {
                let op = match (c, next) {
                    ('!', Some('=')) => "!=",
                    ('!', Some('~')) => "!~",
                    ('<', Some('=')) => "<=",
                    ('>', Some('=')) => ">=",
                    ('=', _) => "=",
                    ('~', _) => "~",
                    ('<', _) => "<",
                    ('>', _) => ">",
                    _ => {
                        return Err(syntax(format!(
                            "The character '!' is a reserved JQL character. (line 1, character {i})"
                        )));
                    }
                };
                i += op.len() - 1;
                out.push(Tok::Op(op));
            }
            _ => {
                let mut word = String::from(c);
                while let Some(&ch) = chars.get(i) {
                    if ch.is_whitespace() || "()\",'=!<>~".contains(ch) {
                        break;
                    }
                    word.push(ch);
                    i += 1;
                }
                out.push(Tok::Word(word));
            }
        }
    }
    Ok(out)
}

fn describe(tok: Option<&Tok>) -> String {
    match tok {
        None => "the end of the query".into(),
        Some(Tok::Word(w) | Tok::Str(w)) => format!("'{w}'"),
        Some(Tok::Op(o)) => format!("'{o}'"),
        Some(Tok::Open) => "'('".into(),
        Some(Tok::Close) => "')'".into(),
        Some(Tok::Comma) => "','".into(),
    }
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    st: &'a Inner,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn keyword_at(&self, offset: usize, k: &str) -> bool {
        matches!(self.toks.get(self.pos + offset), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k))
    }

    fn keyword(&self, k: &str) -> bool {
        self.keyword_at(0, k)
    }

    fn at_order(&self) -> bool {
        self.keyword("order") && self.keyword_at(1, "by")
    }

    fn query(&mut self) -> Result<Query, String> {
        let filter = if self.peek().is_none() || self.at_order() {
            None
        } else {
            Some(self.or()?)
        };
        let order = if self.at_order() {
            self.pos += 2;
            self.order_by()?
        } else {
            Vec::new()
        };
        if self.peek().is_some() {
            return Err(syntax(format!(
                "Expecting either 'OR' or 'AND' but got {}.",
                describe(self.peek())
            )));
        }
        Ok(Query { filter, order })
    }

    fn or(&mut self) -> Result<Pred, String> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Box::new(move |i| left(i) || right(i));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Pred, String> {
        let mut left = self.not()?;
        while self.keyword("and") {
            self.pos += 1;
            let right = self.not()?;
            left = Box::new(move |i| left(i) && right(i));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Pred, String> {
        if self.keyword("not") {
            self.pos += 1;
            let inner = self.not()?;
            return Ok(Box::new(move |i| !inner(i)));
        }
        if self.peek() == Some(&Tok::Open) {
            self.pos += 1;
            let inner = self.or()?;
            if self.peek() != Some(&Tok::Close) {
                return Err(syntax(format!(
                    "Expecting ')' but got {}.",
                    describe(self.peek())
                )));
            }
            self.pos += 1;
            return Ok(inner);
        }
        self.clause()
    }

    fn clause(&mut self) -> Result<Pred, String> {
        let field = match self.peek() {
            Some(Tok::Word(w) | Tok::Str(w)) if !self.at_order() => w.clone(),
            other => {
                return Err(syntax(format!(
                    "Expecting a field name but got {}.",
                    describe(other)
                )));
            }
        };
        self.pos += 1;
        let op = match self.peek() {
            Some(Tok::Op(o)) => o.to_string(),
            _ if self.keyword("in") => "in".into(),
            _ if self.keyword("not") && self.keyword_at(1, "in") => "not in".into(),
            _ if self.keyword("is") && self.keyword_at(1, "not") => "is not".into(),
            _ if self.keyword("is") => "is".into(),
            other => {
                return Err(syntax(format!(
                    "Expecting operator but got {}.",
                    describe(other)
                )));
            }
        };
        self.pos += op.split(' ').count();
        let values = if op.ends_with("in") {
            self.list()?
        } else {
            vec![self.value()?]
        };
        compile(self.st, &field, &op, values)
    }

    fn list(&mut self) -> Result<Vec<Val>, String> {
        if self.peek() != Some(&Tok::Open) {
            return Err(syntax(format!(
                "Expecting '(' but got {}.",
                describe(self.peek())
            )));
        }
        self.pos += 1;
        let mut values = vec![self.value()?];
        while self.peek() == Some(&Tok::Comma) {
            self.pos += 1;
            values.push(self.value()?);
        }
        if self.peek() != Some(&Tok::Close) {
            return Err(syntax(format!(
                "Expecting ')' but got {}.",
                describe(self.peek())
            )));
        }
        self.pos += 1;
        Ok(values)
    }

    fn value(&mut self) -> Result<Val, String> {
        let reserved = ["and", "or", "not", "order", "in", "is"];
        let val = match self.peek() {
            Some(Tok::Str(s)) => Val::Text(s.clone()),
            Some(Tok::Word(w)) if ["empty", "null"].contains(&w.to_lowercase().as_str()) => {
                Val::Empty
            }
            Some(Tok::Word(w)) if !reserved.contains(&w.to_lowercase().as_str()) => {
                if self.toks.get(self.pos + 1) == Some(&Tok::Open) {
                    if self.toks.get(self.pos + 2) != Some(&Tok::Close) {
                        return Err(syntax(
                            "the fake supports JQL functions without arguments only.",
                        ));
                    }
                    let name = w.clone();
                    self.pos += 3;
                    return Ok(Val::Func(name));
                }
                Val::Text(w.clone())
            }
            other => {
                return Err(syntax(format!(
                    "Expecting either a value, list or function but got {}.",
                    describe(other)
                )));
            }
        };
        self.pos += 1;
        Ok(val)
    }

    fn order_by(&mut self) -> Result<Vec<(Sort, bool)>, String> {
        let mut order = Vec::new();
        loop {
            let field = match self.peek() {
                Some(Tok::Word(w) | Tok::Str(w)) => w.to_lowercase(),
                other => {
                    return Err(syntax(format!(
                        "Expecting a field name but got {}.",
                        describe(other)
                    )));
                }
            };
            self.pos += 1;
            // Date fields and priority sort newest/highest first unless told.
            let (sort, ascending) = match field.as_str() {
                "updated" | "updateddate" => (Sort::Updated, false),
                "created" | "createddate" => (Sort::Created, false),
                "key" | "issuekey" | "id" => (Sort::Key, true),
                "priority" => (Sort::Priority, false),
                "status" => (Sort::Status, true),
                "summary" => (Sort::Summary, true),
                "labels" | "project" | "assignee" | "reporter" | "issuetype" => {
                    return Err(format!(
                        "Field '{field}' does not support sorting in the fake."
                    ));
                }
                _ => {
                    return Err(format!(
                        "Field '{field}' does not exist or you do not have permission to view it."
                    ));
                }
            };
            let ascending = if self.keyword("asc") {
                self.pos += 1;
                true
            } else if self.keyword("desc") {
                self.pos += 1;
                false
            } else {
                ascending
            };
            order.push((sort, ascending));
            if self.peek() != Some(&Tok::Comma) {
                return Ok(order);
            }
            self.pos += 1;
        }
    }
}

/// Parses `jql`; the error is the message Jira would put in `errorMessages`.
pub fn parse(jql: &str, st: &Inner) -> Result<Query, String> {
    Parser {
        toks: tokenize(jql)?,
        pos: 0,
        st,
    }
    .query()
}

fn key_order(st: &Inner, issue: &Issue) -> (String, u64) {
    let number = issue
        .key
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    (st.projects[issue.project].key.clone(), number)
}

impl Query {
    /// Whether the query restricts the search (Cloud refuses unbounded
    /// ones on `/search/jql`).
    pub fn bounded(&self) -> bool {
        self.filter.is_some()
    }

    /// The indexes of the matching issues, in the query's order (created,
    /// newest first, when it gives none).
    pub fn run(&self, st: &Inner) -> Vec<usize> {
        let mut hits: Vec<usize> = (0..st.issues.len())
            .filter(|&i| {
                let issue = &st.issues[i];
                issue.deleted_by.is_none() && self.filter.as_ref().is_none_or(|f| f(issue))
            })
            .collect();
        let default = [(Sort::Created, false)];
        let order = if self.order.is_empty() {
            &default[..]
        } else {
            &self.order[..]
        };
        hits.sort_by(|&a, &b| {
            let (a, b) = (&st.issues[a], &st.issues[b]);
            order
                .iter()
                .map(|&(sort, ascending)| {
                    let o = match sort {
                        Sort::Updated => a.updated.cmp(&b.updated),
                        Sort::Created => a.created.cmp(&b.created),
                        Sort::Key => key_order(st, a).cmp(&key_order(st, b)),
                        Sort::Priority => b.priority.cmp(&a.priority),
                        Sort::Status => a.status.cmp(&b.status),
                        Sort::Summary => a.summary.cmp(&b.summary),
                    };
                    if ascending { o } else { o.reverse() }
                })
                .find(|o| o.is_ne())
                .unwrap_or_else(|| a.id.cmp(&b.id))
        });
        hits
    }
}
