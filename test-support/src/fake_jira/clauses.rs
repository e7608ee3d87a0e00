//! JQL clauses: a field, an operator and values, resolved against the
//! fake's data into a predicate on issues.

use super::jql::{Pred, Val};
use super::state::{ISSUE_TYPES, Inner, Issue, PRIORITIES, SERVICE_USER, STATUSES};

fn resolve<T>(
    values: Vec<Val>,
    find: impl Fn(&str) -> Option<T>,
    missing: impl Fn(&str) -> String,
) -> Result<Vec<Option<T>>, String> {
    values
        .into_iter()
        .map(|v| match v {
            Val::Empty => Ok(None),
            Val::Text(t) => find(&t).map(Some).ok_or_else(|| missing(&t)),
            Val::Func(f) => Err(format!("Unable to find JQL function '{f}()'.")),
        })
        .collect()
}

/// `=`, `!=`, `IN`, `NOT IN`, `IS`, `IS NOT` on a single-valued field; like
/// Jira, the negations never match an issue where the field is empty.
fn member<T: PartialEq + 'static>(
    op: &str,
    wanted: Vec<Option<T>>,
    get: fn(&Issue) -> Option<T>,
) -> Option<Pred> {
    let negate = match op {
        "=" | "in" | "is" => false,
        "!=" | "not in" | "is not" => true,
        _ => return None,
    };
    Some(Box::new(move |i| {
        let value = get(i);
        if negate {
            (value.is_some() || wanted.contains(&None)) && !wanted.contains(&value)
        } else {
            wanted.contains(&value)
        }
    }))
}

pub fn compile(st: &Inner, field: &str, op: &str, values: Vec<Val>) -> Result<Pred, String> {
    let lower = field.to_lowercase();
    let no_value = |t: &str| format!("The value '{t}' does not exist for the field '{field}'.");
    let pred = match lower.as_str() {
        "project" => {
            let find = |t: &str| {
                st.find_project(t).or_else(|| {
                    st.projects
                        .iter()
                        .position(|p| p.name.eq_ignore_ascii_case(t))
                })
            };
            member(op, resolve(values, find, no_value)?, |i| Some(i.project))
        }
        "status" => {
            let find = |t: &str| {
                STATUSES
                    .iter()
                    .position(|s| s.id == t || s.name.eq_ignore_ascii_case(t))
            };
            member(op, resolve(values, find, no_value)?, |i| Some(i.status))
        }
        "priority" => {
            let find = |t: &str| {
                PRIORITIES
                    .iter()
                    .position(|p| p.0 == t || p.1.eq_ignore_ascii_case(t))
            };
            member(op, resolve(values, find, no_value)?, |i| Some(i.priority))
        }
        "issuetype" | "type" => {
            let find = |t: &str| {
                ISSUE_TYPES
                    .iter()
                    .position(|p| p.0 == t || p.1.eq_ignore_ascii_case(t))
            };
            member(op, resolve(values, find, no_value)?, |i| Some(i.issuetype))
        }
        "key" | "issuekey" | "id" => {
            let find = |t: &str| st.find_issue(t).map(|i| st.issues[i].id);
            let missing =
                |t: &str| format!("An issue with key '{t}' does not exist for field '{field}'.");
            member(op, resolve(values, find, missing)?, |i| Some(i.id))
        }
        "assignee" | "reporter" => {
            let values = values.into_iter().map(|v| match v {
                Val::Func(f) if f.eq_ignore_ascii_case("currentUser") => {
                    Val::Text(st.users[SERVICE_USER].account_id.clone())
                }
                other => other,
            });
            let find = |t: &str| {
                st.users
                    .iter()
                    .position(|u| u.account_id == t || u.name == t || u.display_name == t)
            };
            let wanted = resolve(values.collect(), find, no_value)?;
            if lower == "assignee" {
                member(op, wanted, |i| i.assignee)
            } else {
                member(op, wanted, |i| i.reporter)
            }
        }
        "labels" => labels(op, values)?,
        "updated" | "updateddate" | "created" | "createddate" => date(st, field, op, values)?,
        "summary" | "text" => {
            let [Val::Text(text)] = &values[..] else {
                return Err(format!("The field '{field}' takes a text value."));
            };
            let text = text.to_lowercase();
            match op {
                "~" => Some(
                    Box::new(move |i: &Issue| i.summary.to_lowercase().contains(&text)) as Pred,
                ),
                "!~" => Some(
                    Box::new(move |i: &Issue| !i.summary.to_lowercase().contains(&text)) as Pred,
                ),
                _ => None,
            }
        }
        _ => {
            return Err(format!(
                "Field '{field}' does not exist or you do not have permission to view it."
            ));
        }
    };
    pred.ok_or_else(|| format!("The operator '{op}' is not supported by the '{field}' field."))
}

fn labels(op: &str, values: Vec<Val>) -> Result<Option<Pred>, String> {
    let wanted: Vec<Option<String>> = resolve(values, |t| Some(t.to_owned()), |_| String::new())?;
    let has = move |i: &Issue| {
        wanted.iter().any(|w| match w {
            Some(l) => i.labels.contains(l),
            None => i.labels.is_empty(),
        })
    };
    Ok(match op {
        "=" | "in" | "is" => Some(Box::new(has)),
        "!=" | "not in" | "is not" => {
            Some(Box::new(move |i: &Issue| !i.labels.is_empty() && !has(i)))
        }
        _ => None,
    })
}

/// A JQL date: `yyyy-MM-dd HH:mm`, `yyyy/MM/dd HH:mm`, either without the
/// time, a period such as `-5d` or `-1w 2d`, or now().
fn parse_date(text: &str, now: i64) -> Option<i64> {
    use chrono::{NaiveDate, NaiveDateTime};
    for format in ["%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    for format in ["%Y-%m-%d", "%Y/%m/%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(text, format) {
            return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis());
        }
    }
    let (sign, rest) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let mut total = 0i64;
    for part in rest.split_whitespace() {
        let unit = match part.chars().last()? {
            'w' => 7 * 86_400_000,
            'd' => 86_400_000,
            'h' => 3_600_000,
            'm' => 60_000,
            _ => return None,
        };
        total += part[..part.len() - 1].parse::<i64>().ok()? * unit;
    }
    (!rest.trim().is_empty()).then_some(now + sign * total)
}

fn date(st: &Inner, field: &str, op: &str, values: Vec<Val>) -> Result<Option<Pred>, String> {
    let at = match &values[..] {
        [Val::Func(f)] if f.eq_ignore_ascii_case("now") => st.now,
        [Val::Text(t)] => parse_date(t, st.now).ok_or_else(|| {
            format!(
                "Date value '{t}' for field '{field}' is invalid. Valid formats include: \
                 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a \
                 period format e.g. '-5d', '4w 2d'."
            )
        })?,
        _ => return Ok(None),
    };
    let get: fn(&Issue) -> i64 = if field.to_lowercase().starts_with("updated") {
        |i| i.updated
    } else {
        |i| i.created
    };
    let compare: fn(i64, i64) -> bool = match op {
        "=" => |a, b| a == b,
        "!=" => |a, b| a != b,
        ">" => |a, b| a > b,
        ">=" => |a, b| a >= b,
        "<" => |a, b| a < b,
        "<=" => |a, b| a <= b,
        _ => return Ok(None),
    };
    Ok(Some(Box::new(move |i| compare(get(i), at))))
}
