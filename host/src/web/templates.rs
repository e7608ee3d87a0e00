//! The admin UI's templates, compiled into the binary.
//!
//! Templates are minijinja files under `templates/`; names ending in `.html`
//! are auto-escaped, so every value rendered is inert text unless a template
//! says otherwise (none does).

use std::sync::LazyLock;

use minijinja::Environment;
use serde::Serialize;

use super::dates::civil_from_days;

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        [$(($name, include_str!(concat!("../../../templates/", $name)))),*]
    };
}

const SOURCES: [(&str, &str); 35] = templates!(
    "base.html",
    "error.html",
    "auth/login.html",
    "admin/users.html",
    "admin/tokens.html",
    "admin/token_created.html",
    "admin/audit.html",
    "admin/outbound_webhooks.html",
    "admin/outbound_webhook.html",
    "integrations/providers.html",
    "marketplace/list.html",
    "marketplace/review.html",
    "marketplace/installed.html",
    "marketplace/uninstall.html",
    "marketplace/publishers.html",
    "integrations/_fields.html",
    "integrations/_log_table.html",
    "integrations/choose.html",
    "integrations/dashboard.html",
    "integrations/delete.html",
    "integrations/detail.html",
    "integrations/form.html",
    "integrations/list.html",
    "integrations/log.html",
    "integrations/logs.html",
    "integrations/wizard.html",
    "integrations/webhook_created.html",
    "integrations/deliveries.html",
    "work_orders/list.html",
    "work_orders/form.html",
    "work_orders/detail.html",
    "directory/users.html",
    "directory/user.html",
    "directory/groups.html",
    "directory/group.html",
);

/// The compiled templates.
pub struct Templates {
    env: Environment<'static>,
}

static GLOBAL: LazyLock<Templates> = LazyLock::new(Templates::load);

impl Templates {
    fn load() -> Templates {
        let mut env = Environment::new();
        for (name, source) in SOURCES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("template {name} does not compile: {e}"));
        }
        env.add_filter("datetime", format_millis);
        env.add_filter("truncate", truncate);
        Templates { env }
    }

    /// The templates, compiled on first use.
    pub fn global() -> &'static Templates {
        &GLOBAL
    }

    pub fn render<S: Serialize>(&self, name: &str, context: S) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(context)
    }
}

/// At most `max` characters of `text`, with `…` when cut.
fn truncate(text: String, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM UTC`.
fn format_millis(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_values_are_escaped() {
        let html = Templates::global()
            .render(
                "error.html",
                minijinja::context! { title => "<script>alert(1)</script>", message => "a & b" },
            )
            .unwrap();
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("a &amp; b"));
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        assert_eq!(truncate("héllo wörld".into(), 4), "héll…");
        assert_eq!(truncate("short".into(), 10), "short");
    }

    #[test]
    fn timestamps_render_in_utc() {
        assert_eq!(format_millis(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_millis(1_795_000_000_000), "2026-11-18 11:06 UTC");
    }
}
