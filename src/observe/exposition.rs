//! The two exposition formats `/metrics` serves: OpenMetrics 1.0 (what
//! prometheus-client writes, for a scraper that asks for it) and the
//! Prometheus text format 0.0.4 (the default), into which the OpenMetrics
//! text is rewritten: a counter family `x` is named `x_total` in its
//! `# HELP` and `# TYPE` lines (its samples already are), `# UNIT` lines
//! go, and so does the closing `# EOF`.

/// The Prometheus text exposition format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// OpenMetrics 1.0.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Whether an `Accept` header asks for OpenMetrics.
pub fn wants_openmetrics(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let media = range.split(';').next().unwrap_or("").trim();
        media.eq_ignore_ascii_case("application/openmetrics-text")
    })
}

/// `openmetrics` (prometheus-client's text) in the Prometheus text format.
pub(super) fn to_prometheus_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    // A family's HELP line waits for its TYPE line, which says whether the
    // family is a counter.
    let mut help: Option<(&str, &str)> = None;
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
            help = Some((name, text));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let exposed = if kind == "counter" {
                format!("{name}_total")
            } else {
                name.to_owned()
            };
            match help.take() {
                Some((help_name, text)) if help_name == name => {
                    out.push_str(&format!("# HELP {exposed} {text}\n"));
                }
                _ => out.push_str(&format!("# HELP {exposed} {exposed}\n")),
            }
            out.push_str(&format!("# TYPE {exposed} {kind}\n"));
        } else if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_take_their_total_name_and_eof_goes() {
        let om = "# HELP app_requests Requests.\n# TYPE app_requests counter\napp_requests_total{m=\"A\"} 1\n# HELP app_up Up.\n# TYPE app_up gauge\napp_up 1\n# EOF\n";
        assert_eq!(
            to_prometheus_text(om),
            "# HELP app_requests_total Requests.\n# TYPE app_requests_total counter\napp_requests_total{m=\"A\"} 1\n# HELP app_up Up.\n# TYPE app_up gauge\napp_up 1\n"
        );
    }

    #[test]
    fn accept_headers() {
        assert!(wants_openmetrics(
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
        ));
        assert!(!wants_openmetrics("text/plain;version=0.0.4"));
        assert!(!wants_openmetrics("*/*"));
    }
}
