//! The connection test, as far as the configuration goes: the wizard
//! checks after the credentials (the probe is read), after the record
//! settings (the first page is read and its records found) and after the
//! push settings (the templates compile).

use cube_connector_sdk::prelude::*;

use crate::client::{self, Client};
use crate::config::Config;
use crate::{push, sync};

pub fn test_connection(config: &Config) -> Result<String> {
    let client = Client::new(config)?;
    let probe = config.probe_path.trim();
    let list = !config.list_path.trim().is_empty();
    let mut said = String::new();
    // Without a probe path the first page of the list is the probe (or,
    // before the list is configured, the base URL).
    if !probe.is_empty() || !list {
        let response = client.send(client.request("GET", probe)?)?;
        said = format!(
            "Reached {} {}",
            client::without_query(&response.url),
            config.auth.describe()
        );
    }
    if list {
        config.check_records()?;
        let listed = sync::list(&client, None, None)?;
        for (position, row) in listed.rows.iter().enumerate() {
            sync::record_of(&client, row, position, &listed.url)?;
        }
        let (url, n) = (client::without_query(&listed.url), listed.rows.len());
        said = if said.is_empty() {
            format!(
                "Read the first page of {url} {}: {n} records",
                config.auth.describe()
            )
        } else {
            format!("{said}; the first page of {url} holds {n} records")
        };
    }
    if push::check_templates(config)? {
        said.push_str("; the push templates compile");
    }
    Ok(said + ".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use cube_connector_sdk::testing;

    #[test]
    fn the_test_probes_then_reads_the_first_page() {
        testing::reset();
        testing::on_http(|req| {
            let mut response = if req.url.ends_with("/me") {
                testing::response(200, r#"{"name": "cube"}"#)
            } else {
                testing::response(200, r#"{"data": [{"id": 1}, {"id": 2}]}"#)
            };
            response.url = req.url.clone();
            Ok(response)
        });
        let config: Config = serde_json::from_value(json!({
            "base_url": "https://api.example.com", "auth": "bearer", "token": "t",
            "probe_path": "/me"
        }))
        .unwrap();
        assert_eq!(
            test_connection(&config).unwrap(),
            "Reached https://api.example.com/me with a bearer token."
        );
        let config: Config = serde_json::from_value(json!({
            "base_url": "https://api.example.com", "list_path": "/items", "records_pointer": "/data",
            "pagination": "page", "push_url_template": "/items"
        }))
        .unwrap();
        assert_eq!(
            test_connection(&config).unwrap(),
            "Read the first page of https://api.example.com/items without authentication: 2 records; the push templates compile."
        );
    }
}
