//! `[log] level`: a level, or tracing filter directives whose every part
//! ends in a level. EnvFilter alone would take `verbose` as "the target
//! `verbose` at trace" and turn every other log line off, even a fatal
//! error; here that is a config error naming the levels.

use super::suggest::did_you_mean;

/// The levels, as `[log] level` and `RUST_LOG` spell them.
const LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];

/// Why `text` is not a log level or filter, or `None` when it is one.
pub(super) fn problem(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() {
        return Some(format!("empty log level (one of {})", LEVELS.join(", ")));
    }
    for directive in text.split(',').map(str::trim) {
        // `target=level` and `target[span{field}]=level`; a bare word must be a level.
        let level = directive
            .rsplit_once('=')
            .map_or(directive, |(_, level)| level);
        if !is_level(level) {
            return Some(format!(
                "`{level}` is not a log level{} (one of {}, or `target=level` directives such as info,sip_autoresponder::transport=debug)",
                did_you_mean(level, LEVELS),
                LEVELS.join(", ")
            ));
        }
    }
    tracing_subscriber::EnvFilter::try_new(text)
        .err()
        .map(|error| format!("`{text}` is not a log filter: {error}"))
}

fn is_level(word: &str) -> bool {
    LEVELS.iter().any(|l| l.eq_ignore_ascii_case(word))
        || ["0", "1", "2", "3", "4", "5"].contains(&word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_filters_are_accepted() {
        for text in [
            "info",
            "WARN",
            "off",
            "info,sip_autoresponder::transport=debug",
            "warn,hyper=error",
        ] {
            assert_eq!(problem(text), None, "{text}");
        }
    }

    #[test]
    fn words_that_are_no_level_are_refused() {
        let verbose = problem("verbose").expect("refused");
        assert!(
            verbose.contains("`verbose` is not a log level"),
            "{verbose}"
        );
        assert!(!verbose.contains("did you mean"), "{verbose}");
        let typo = problem("inof").expect("refused");
        assert!(typo.contains("did you mean `info`?"), "{typo}");
        assert!(problem("info,sip_autoresponder=loud").is_some());
        assert!(problem("").is_some());
    }
}
