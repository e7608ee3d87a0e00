//! Encoded queries (`sysparm_query`): parsing them against a table's
//! columns, and matching rows.

use super::state::{DATE_COLUMNS, Inner, NUMERIC_COLUMNS, Row, is_stamp};

#[derive(Debug)]
struct Condition {
    field: String,
    op: String,
    value: String,
}

/// An encoded query: conditions ANDed, each a list of alternatives (`^OR`),
/// and the ordering.
#[derive(Debug, Default)]
pub struct Query {
    and: Vec<Vec<Condition>>,
    /// Fields to order by, and whether descending.
    pub order: Vec<(String, bool)>,
}

const OPERATORS: &[&str] = &[
    "ISNOTEMPTY",
    "ISEMPTY",
    "STARTSWITH",
    "NOT IN",
    "LIKE",
    "IN",
    ">=",
    "<=",
    "!=",
    ">",
    "<",
    "=",
];

impl Inner {
    pub fn parse_query(&mut self, table: &str, text: &str) -> Result<Query, String> {
        let mut query = Query::default();
        if text.trim().is_empty() {
            return Ok(query);
        }
        for part in text.split('^') {
            if part.is_empty() {
                return Err(format!("empty condition in `{text}`"));
            }
            if part == "NQ" || part.starts_with("NQ") {
                return Err("the fake does not implement ^NQ".into());
            }
            if let Some(field) = part.strip_prefix("ORDERBYDESC") {
                if !self.known_field(table, field) {
                    return Err(format!("ORDERBYDESC names an unknown field `{field}`"));
                }
                query.order.push((field.to_owned(), true));
                continue;
            }
            if let Some(field) = part.strip_prefix("ORDERBY") {
                if !self.known_field(table, field) {
                    return Err(format!("ORDERBY names an unknown field `{field}`"));
                }
                query.order.push((field.to_owned(), false));
                continue;
            }
            let (or, condition) = match part.strip_prefix("OR") {
                Some(rest) if !query.and.is_empty() => (true, rest),
                _ => (false, part),
            };
            let Some((at, op)) = OPERATORS
                .iter()
                .filter_map(|op| condition.find(op).map(|at| (at, *op)))
                .min_by_key(|(at, op)| (*at, std::cmp::Reverse(op.len())))
            else {
                return Err(format!("`{condition}` has no operator"));
            };
            let field = &condition[..at];
            let value = &condition[at + op.len()..];
            if field.is_empty() || !self.known_field(table, field) {
                return Err(format!("`{condition}` names an unknown field `{field}`"));
            }
            let value = if DATE_COLUMNS.contains(&field) && !value.is_empty() {
                match date_value(value) {
                    Some(v) => v,
                    None => {
                        return Err(format!(
                            "`{value}` is not a date-time (`YYYY-MM-DD HH:MM:SS` or javascript:gs.dateGenerate('YYYY-MM-DD','HH:MM:SS'))"
                        ));
                    }
                }
            } else {
                value.to_owned()
            };
            if matches!(op, "ISEMPTY" | "ISNOTEMPTY") && !value.is_empty() {
                return Err(format!("`{condition}` has a value after {op}"));
            }
            let condition = Condition {
                field: field.to_owned(),
                op: op.to_owned(),
                value,
            };
            if or {
                query.and.last_mut().unwrap().push(condition);
            } else {
                query.and.push(vec![condition]);
            }
        }
        Ok(query)
    }

    pub fn matches(&self, row: &Row, query: &Query) -> bool {
        query.and.iter().all(|any| {
            any.iter().any(|c| {
                let value = self.value(row, &c.field);
                let have = value.as_str().unwrap_or_default();
                let ordering = || {
                    if NUMERIC_COLUMNS.contains(&c.field.as_str())
                        && let (Ok(a), Ok(b)) = (have.parse::<i64>(), c.value.parse::<i64>())
                    {
                        return a.cmp(&b);
                    }
                    have.cmp(c.value.as_str())
                };
                match c.op.as_str() {
                    "=" => have == c.value,
                    "!=" => have != c.value,
                    ">" => !have.is_empty() && ordering().is_gt(),
                    ">=" => !have.is_empty() && ordering().is_ge(),
                    "<" => !have.is_empty() && ordering().is_lt(),
                    "<=" => !have.is_empty() && ordering().is_le(),
                    "IN" => c.value.split(',').any(|v| v == have),
                    "NOT IN" => !c.value.split(',').any(|v| v == have),
                    "STARTSWITH" => have.starts_with(c.value.as_str()),
                    "LIKE" => have.to_lowercase().contains(&c.value.to_lowercase()),
                    "ISEMPTY" => have.is_empty(),
                    "ISNOTEMPTY" => !have.is_empty(),
                    _ => false,
                }
            })
        })
    }
}

/// A date-time value of an encoded query, as stored (UTC).
fn date_value(value: &str) -> Option<String> {
    if is_stamp(value) {
        return Some(value.to_owned());
    }
    // The fake's users are in UTC, so a generated date is the same instant.
    let inner = value
        .strip_prefix("javascript:gs.dateGenerate(")?
        .strip_suffix(')')?;
    let (date, time) = inner.split_once(',')?;
    let joined = format!(
        "{} {}",
        date.trim().trim_matches('\''),
        time.trim().trim_matches('\'')
    );
    is_stamp(&joined).then_some(joined)
}
