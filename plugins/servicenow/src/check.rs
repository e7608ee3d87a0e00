//! The connection test, as far as the configuration goes (the wizard
//! checks after the credentials and after the incident settings), and the
//! assignment groups the wizard offers.

use cube_connector_sdk::prelude::*;
use serde_json::Value;

use crate::client::ServiceNow;
use crate::config::Config;
use crate::incidents::{TABLE, text};
use crate::sync;

pub fn test_connection(config: &Config) -> Result<String> {
    let sn = ServiceNow::new(config)?;
    let how = match config.auth {
        crate::config::Auth::Basic => "with basic authentication",
        crate::config::Auth::OAuth2 => "with an OAuth token",
    };
    // Reading one incident proves the address, the sign-in and the role.
    sn.list(TABLE, "ORDERBYsys_id", "sys_id", 1, 0)?;
    let mut said = format!(
        "Signed in to {} as {} {how} and read incidents",
        sn.instance(),
        config.username.trim()
    );
    let group = config.assignment_group.trim();
    if !group.is_empty() {
        let found = sn.find(
            sn.request("GET", "sys_user_group", Some(group))
                .query("sysparm_fields", "sys_id,name"),
        )?;
        let Some(found) = found else {
            return Err(Error::config(format!(
                "there is no assignment group with the sys_id {group}, or {} cannot read it",
                config.username.trim()
            )));
        };
        let row: Value = found.json()?;
        let name = row
            .pointer("/result/name")
            .and_then(Value::as_str)
            .unwrap_or(group);
        said.push_str(&format!("; assignment group {name}"));
    }
    config.statuses()?;
    config.priorities()?;
    // The query a sync runs, with the admin's filter: a mistake shows here
    // rather than in the first sync.
    let query = sync::query(&sn, None)?;
    let page = match sn.list(TABLE, &query, "sys_id", 1, 0) {
        Ok(page) => page,
        Err(Error::Config(message)) if !config.query_filter.trim().is_empty() => {
            return Err(Error::config(format!(
                "the query filter `{}` does not work: {message}",
                config.query_filter.trim()
            )));
        }
        Err(other) => return Err(other),
    };
    if let Some(total) = page.total {
        said.push_str(&format!("; {total} incidents to sync"));
    }
    Ok(said + ".")
}

/// The values ServiceNow offers for `field`, given the earlier steps' settings.
pub fn choices(config: Value, field: &str) -> Result<Vec<Choice>> {
    if field != "assignment_group" {
        return Ok(Vec::new());
    }
    let config: Config = cube_connector_sdk::connector::parse_config(&config.to_string())?;
    let sn = ServiceNow::new(&config)?;
    // At most 1,000 groups are offered; beyond that, type the sys_id.
    let page = sn.list(
        "sys_user_group",
        "active=true^ORDERBYname",
        "sys_id,name",
        1000,
        0,
    )?;
    Ok(page
        .records
        .iter()
        .filter(|g| !text(g, "sys_id").is_empty())
        .map(|g| Choice {
            value: text(g, "sys_id").to_owned(),
            label: text(g, "name").to_owned(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cube_connector_sdk::testing;

    fn config(extra: Value) -> Config {
        let mut base = json!({"instance_url": "https://acme.service-now.com", "username": "cube", "password": "pw"});
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    fn answer(body: Value, total: Option<&str>) -> testing::Response {
        let mut response = testing::response(200, body.to_string());
        if let Some(total) = total {
            response
                .headers
                .push(("x-total-count".into(), total.into()));
        }
        response
    }

    #[test]
    fn the_test_names_the_group_and_counts_the_incidents() {
        testing::reset();
        testing::on_http(|req| {
            Ok(if req.url.contains("/sys_user_group/g1") {
                answer(
                    json!({"result": {"sys_id": "g1", "name": "Facilities"}}),
                    None,
                )
            } else {
                answer(json!({"result": [{"sys_id": "a"}]}), Some("42"))
            })
        });
        let said = test_connection(&config(json!({"assignment_group": "g1"}))).unwrap();
        assert_eq!(
            said,
            "Signed in to https://acme.service-now.com as cube with basic authentication and read incidents; assignment group Facilities; 42 incidents to sync."
        );
    }

    #[test]
    fn an_unknown_group_and_a_bad_filter_are_named() {
        testing::reset();
        testing::on_http(|req| {
            Ok(if req.url.contains("/sys_user_group/") {
                testing::response(
                    404,
                    r#"{"error":{"message":"No Record found","detail":""},"status":"failure"}"#,
                )
            } else {
                answer(json!({"result": []}), Some("0"))
            })
        });
        let err = test_connection(&config(json!({"assignment_group": "nope"}))).unwrap_err();
        assert!(
            err.message()
                .contains("no assignment group with the sys_id nope"),
            "{err:?}"
        );

        testing::reset();
        testing::on_http(|req| {
            Ok(if req.url.contains("bogus") {
                testing::response(
                    400,
                    r#"{"error":{"message":"Invalid query","detail":"bogus"},"status":"failure"}"#,
                )
            } else {
                answer(json!({"result": []}), Some("0"))
            })
        });
        let err = test_connection(&config(json!({"query_filter": "bogus"}))).unwrap_err();
        assert!(
            err.message()
                .contains("the query filter `bogus` does not work"),
            "{err:?}"
        );
    }

    #[test]
    fn groups_are_offered_by_name() {
        testing::reset();
        testing::on_http(|req| {
            assert!(
                req.url.contains("/api/now/table/sys_user_group?"),
                "{}",
                req.url
            );
            Ok(answer(
                json!({"result": [{"sys_id": "g1", "name": "Facilities"}, {"sys_id": "g2", "name": "Network"}]}),
                Some("2"),
            ))
        });
        let offered = choices(
            json!({"instance_url": "https://acme.service-now.com", "username": "cube", "password": "pw"}),
            "assignment_group",
        )
        .unwrap();
        assert_eq!(offered.len(), 2);
        assert_eq!(
            (offered[0].value.as_str(), offered[0].label.as_str()),
            ("g1", "Facilities")
        );
        assert!(choices(json!({}), "other").unwrap().is_empty());
    }
}
