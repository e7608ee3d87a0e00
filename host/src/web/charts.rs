//! Charts for the dashboard, drawn here as SVG.
//!
//! Server-side SVG needs no JavaScript (the UI works without it), passes the
//! Content-Security-Policy (`default-src 'self'`: no inline scripts or
//! styles; colours come from CSS classes in `app.css`), and stays
//! accessible: each chart has a `<title>`, a `<desc>` stating its data in
//! words, and a tooltip `<title>` on every bar and point.
//!
//! The output is trusted markup for the templates because every piece of
//! caller text is XML-escaped here, and class names are reduced to
//! `[A-Za-z0-9_-]`.

use std::fmt::Write;

/// One named series; `class` is a CSS class that colours it (`ok`, `failed`).
pub struct Series<'a> {
    pub name: &'a str,
    pub class: &'a str,
    pub values: Vec<u64>,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 48.0;
/// The most x-axis labels printed; others are thinned out.
const MAX_LABELS: usize = 10;

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn class_name(class: &str) -> String {
    class
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}

/// A number for an attribute: finite, at most one decimal.
fn num(value: f64) -> String {
    let value = if value.is_finite() { value } else { 0.0 };
    let rounded = (value * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{}", rounded as i64)
    } else {
        format!("{rounded:.1}")
    }
}

/// An id for `aria-labelledby`, from the title and the content.
fn chart_id(title: &str, content: &str) -> String {
    let slug: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let slug = slug.trim_matches('-');
    // FNV-1a: stable, dependency-free, unique enough for ids on one page.
    let mut hash: u32 = 0x811c_9dc5;
    for byte in content.bytes().chain(title.bytes()) {
        hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
    }
    format!(
        "chart-{}-{hash:08x}",
        if slug.is_empty() { "untitled" } else { slug }
    )
}

/// A round axis maximum at or above `max`, and the tick step.
fn nice_scale(max: f64) -> (f64, f64) {
    if max.is_nan() || max <= 0.0 || max.is_infinite() {
        return (1.0, 1.0);
    }
    let rough = max / 4.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * magnitude);
    let step = if max >= 1.0 { step.max(1.0) } else { step };
    (((max / step).ceil() * step).max(step), step)
}

fn open_svg(out: &mut String, title: &str, desc: &str) {
    let id = chart_id(title, desc);
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {} {}" role="img" aria-labelledby="{id}-title {id}-desc"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        num(WIDTH),
        num(HEIGHT),
        escape(title),
        escape(desc)
    );
}

fn no_data(title: &str) -> String {
    let mut out = String::new();
    open_svg(&mut out, title, "No data yet.");
    let _ = write!(
        out,
        r#"<text class="empty" x="{}" y="{}" text-anchor="middle">No data yet</text></svg>"#,
        num(WIDTH / 2.0),
        num(HEIGHT / 2.0)
    );
    out
}

/// The y axis with its grid, and the x labels (thinned out).
fn axes(out: &mut String, labels: &[String], max: f64, step: f64, suffix: &str) {
    let plot_h = HEIGHT - TOP - BOTTOM;
    let mut tick = 0.0;
    while tick <= max + step / 2.0 {
        let y = TOP + plot_h - tick / max * plot_h;
        let _ = write!(
            out,
            r#"<line class="grid" x1="{}" y1="{y}" x2="{}" y2="{y}"/><text class="axis" x="{}" y="{}" text-anchor="end">{}{suffix}</text>"#,
            num(LEFT),
            num(WIDTH - RIGHT),
            num(LEFT - 6.0),
            num(y + 4.0),
            num(tick),
            y = num(y)
        );
        tick += step;
    }
    let every = labels.len().div_ceil(MAX_LABELS).max(1);
    let slot = (WIDTH - LEFT - RIGHT) / labels.len().max(1) as f64;
    for (i, label) in labels.iter().enumerate() {
        if i % every != 0 {
            continue;
        }
        let _ = write!(
            out,
            r#"<text class="axis" x="{}" y="{}" text-anchor="middle">{}</text>"#,
            num(LEFT + slot * (i as f64 + 0.5)),
            num(HEIGHT - BOTTOM + 16.0),
            escape(label)
        );
    }
}

fn legend(out: &mut String, entries: &[(&str, &str)]) {
    let mut x = LEFT;
    let y = HEIGHT - 14.0;
    out.push_str(r#"<g class="legend">"#);
    for (name, class) in entries {
        let _ = write!(
            out,
            r#"<rect class="swatch {}" x="{}" y="{}" width="10" height="10"/><text x="{}" y="{}">{}</text>"#,
            class_name(class),
            num(x),
            num(y - 9.0),
            num(x + 14.0),
            num(y),
            escape(name)
        );
        x += 28.0 + name.chars().count() as f64 * 7.0;
    }
    out.push_str("</g>");
}

/// Stacked vertical bars, one per label, series stacked bottom-up.
pub fn stacked_bars(title: &str, labels: &[String], series: &[Series<'_>]) -> String {
    if labels.is_empty() {
        return no_data(title);
    }
    let value = |s: &Series<'_>, i: usize| s.values.get(i).copied().unwrap_or(0) as f64;
    let totals: Vec<f64> = (0..labels.len())
        .map(|i| series.iter().map(|s| value(s, i)).sum())
        .collect();
    let (max, step) = nice_scale(totals.iter().copied().fold(0.0, f64::max));
    let desc: Vec<String> = labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let parts: Vec<String> = series
                .iter()
                .map(|s| format!("{} {}", value(s, i), s.name))
                .collect();
            format!("{label}: {}", parts.join(", "))
        })
        .collect();
    let mut out = String::new();
    open_svg(&mut out, title, &(desc.join("; ") + "."));
    axes(&mut out, labels, max, step, "");
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slot = (WIDTH - LEFT - RIGHT) / labels.len() as f64;
    let bar_w = (slot * 0.7).max(1.0);
    for (i, label) in labels.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
        let mut base = TOP + plot_h;
        for s in series {
            let v = value(s, i);
            if v <= 0.0 {
                continue;
            }
            let h = v / max * plot_h;
            base -= h;
            let _ = write!(
                out,
                r#"<rect class="bar {}" x="{}" y="{}" width="{}" height="{}"><title>{}: {} {}</title></rect>"#,
                class_name(s.class),
                num(x),
                num(base),
                num(bar_w),
                num(h),
                escape(label),
                v,
                escape(s.name)
            );
        }
    }
    let entries: Vec<(&str, &str)> = series.iter().map(|s| (s.name, s.class)).collect();
    legend(&mut out, &entries);
    out.push_str("</svg>");
    out
}

/// A line of percentages (0 to 100) per label; `None` leaves a gap.
pub fn percent_line(
    title: &str,
    labels: &[String],
    name: &str,
    class: &str,
    values: &[Option<f64>],
) -> String {
    if labels.is_empty() {
        return no_data(title);
    }
    let at = |i: usize| {
        values
            .get(i)
            .copied()
            .flatten()
            .filter(|v| v.is_finite())
            .map(|v| v.clamp(0.0, 100.0))
    };
    let desc: Vec<String> = labels
        .iter()
        .enumerate()
        .map(|(i, label)| match at(i) {
            Some(v) => format!("{label}: {}%", num(v)),
            None => format!("{label}: no data"),
        })
        .collect();
    let mut out = String::new();
    open_svg(&mut out, title, &format!("{name}. {}.", desc.join("; ")));
    axes(&mut out, labels, 100.0, 25.0, "%");
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slot = (WIDTH - LEFT - RIGHT) / labels.len() as f64;
    let point = |i: usize, v: f64| {
        (
            LEFT + slot * (i as f64 + 0.5),
            TOP + plot_h - v / 100.0 * plot_h,
        )
    };
    // One polyline per run of days with data.
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    for i in 0..labels.len() {
        match at(i) {
            Some(v) => current.push(point(i, v)),
            None if !current.is_empty() => runs.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    let class = class_name(class);
    for run in runs.iter().filter(|r| r.len() > 1) {
        let points: Vec<String> = run
            .iter()
            .map(|(x, y)| format!("{},{}", num(*x), num(*y)))
            .collect();
        let _ = write!(
            out,
            r#"<polyline class="line {class}" points="{}"/>"#,
            points.join(" ")
        );
    }
    for (i, label) in labels.iter().enumerate() {
        if let Some(v) = at(i) {
            let (x, y) = point(i, v);
            let _ = write!(
                out,
                r#"<circle class="point {class}" cx="{}" cy="{}" r="3.5"><title>{}: {}%</title></circle>"#,
                num(x),
                num(y),
                escape(label),
                num(v)
            );
        }
    }
    legend(&mut out, &[(name, &class)]);
    out.push_str("</svg>");
    out
}

/// One horizontal bar split into proportional slices, with a legend.
pub fn proportion_bar(title: &str, slices: &[(&str, &str, u64)]) -> String {
    let total: f64 = slices.iter().map(|(_, _, v)| *v as f64).sum();
    if total <= 0.0 {
        return no_data(title);
    }
    let desc: Vec<String> = slices
        .iter()
        .map(|(label, _, v)| format!("{v} {label}"))
        .collect();
    let mut out = String::new();
    open_svg(&mut out, title, &(desc.join(", ") + "."));
    let full = WIDTH - LEFT - RIGHT;
    let mut x = LEFT;
    for (label, class, v) in slices {
        if *v == 0 {
            continue;
        }
        let w = *v as f64 / total * full;
        let _ = write!(
            out,
            r#"<rect class="bar {}" x="{}" y="{}" width="{}" height="48"><title>{}: {}</title></rect>"#,
            class_name(class),
            num(x),
            num(TOP + 40.0),
            num(w),
            escape(label),
            v
        );
        x += w;
    }
    let entries: Vec<(&str, &str)> = slices.iter().map(|(l, c, _)| (*l, *c)).collect();
    legend(&mut out, &entries);
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: usize) -> Vec<String> {
        (1..=n).map(|d| format!("Nov {d}")).collect()
    }

    /// The `height` attributes of the bars, in order.
    fn heights(svg: &str) -> Vec<f64> {
        svg.split(r#"<rect class="bar"#)
            .skip(1)
            .map(|rest| {
                let start = rest.find("height=\"").unwrap() + 8;
                rest[start..start + rest[start..].find('"').unwrap()]
                    .parse()
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn caller_text_is_escaped_everywhere() {
        let evil = "<script>alert(1)</script>";
        let svg = stacked_bars(
            evil,
            &[evil.to_owned()],
            &[Series {
                name: evil,
                class: "ok\" onload=\"x",
                values: vec![1],
            }],
        );
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!svg.contains("onload="), "{svg}");
        assert!(svg.contains(r#"class="bar okonloadx""#));
    }

    #[test]
    fn bar_heights_are_proportional_and_stack_in_order() {
        let svg = stacked_bars(
            "t",
            &labels(2),
            &[
                Series {
                    name: "ok",
                    class: "ok",
                    values: vec![1, 3],
                },
                Series {
                    name: "failed",
                    class: "failed",
                    values: vec![0, 1],
                },
            ],
        );
        let h = heights(&svg);
        assert_eq!(h.len(), 3, "{svg}");
        assert!((h[1] / h[0] - 3.0).abs() < 0.05, "{h:?}");
        assert!((h[2] / h[0] - 1.0).abs() < 0.05, "{h:?}");
        // The failed bar sits on top of the ok bar of the same day.
        let ok = svg.find(r#"<title>Nov 2: 3 ok"#).unwrap();
        let failed = svg.find(r#"<title>Nov 2: 1 failed"#).unwrap();
        assert!(ok < failed);
    }

    #[test]
    fn gaps_break_the_line_and_get_no_point() {
        let svg = percent_line(
            "rate",
            &labels(5),
            "success",
            "ok",
            &[Some(100.0), Some(50.0), None, Some(75.0), Some(80.0)],
        );
        assert_eq!(svg.matches("<polyline").count(), 2, "{svg}");
        assert_eq!(svg.matches("<circle").count(), 4);
        assert!(svg.contains("Nov 3: no data"));
    }

    #[test]
    fn empty_and_zero_inputs_draw_without_nan() {
        let zero = stacked_bars(
            "z",
            &labels(3),
            &[Series {
                name: "ok",
                class: "ok",
                values: vec![0, 0, 0],
            }],
        );
        assert!(!zero.contains("NaN") && !zero.contains("inf"), "{zero}");
        assert!(stacked_bars("e", &[], &[]).contains("No data yet"));
        assert!(proportion_bar("p", &[("a", "x", 0)]).contains("No data yet"));
        let huge = stacked_bars(
            "h",
            &labels(1),
            &[Series {
                name: "n",
                class: "n",
                values: vec![u64::MAX],
            }],
        );
        assert!(!huge.contains("NaN"));
    }

    #[test]
    fn many_labels_are_thinned_out() {
        let svg = stacked_bars(
            "t",
            &labels(30),
            &[Series {
                name: "ok",
                class: "ok",
                values: vec![1; 30],
            }],
        );
        let printed = (1..=30)
            .filter(|d| svg.contains(&format!(">Nov {d}</text>")))
            .count();
        assert!((5..=10).contains(&printed), "{printed}");
    }

    #[test]
    fn proportions_fill_the_width() {
        let svg = proportion_bar("p", &[("active", "active", 3), ("inactive", "inactive", 1)]);
        let widths: Vec<f64> = svg
            .split(r#"<rect class="bar"#)
            .skip(1)
            .map(|r| {
                let s = r.find("width=\"").unwrap() + 7;
                r[s..s + r[s..].find('"').unwrap()].parse().unwrap()
            })
            .collect();
        assert!(
            (widths.iter().sum::<f64>() - (WIDTH - LEFT - RIGHT)).abs() < 0.5,
            "{widths:?}"
        );
        assert!((widths[0] / widths[1] - 3.0).abs() < 0.05);
    }

    #[test]
    fn axis_maxima_are_round() {
        assert_eq!(nice_scale(7.0), (8.0, 2.0));
        assert_eq!(nice_scale(0.0), (1.0, 1.0));
        assert_eq!(nice_scale(100.0), (100.0, 25.0));
    }
}
