//! The config loader on arbitrary text: `Config::parse` must never panic,
//! whatever the TOML (errors are fine), and the results must print
//! (`check` prints the rules, every error and every warning).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sip_autoresponder::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // TLS listeners read their PEM files at load; device and proc files
    // (/dev/zero, /dev/stdin, ...) never end or block, which says nothing
    // about the loader. Everything else is loaded as `check` would.
    if text.contains("/dev") || text.contains("/proc") || text.contains("/sys") {
        return;
    }
    match Config::parse(text, "fuzz.toml") {
        Ok(config) => {
            let _ = config.rules.to_string();
            for warning in &config.warnings {
                let _ = warning.to_string();
            }
        }
        Err(errors) => {
            assert!(!errors.errors.is_empty(), "Err without any error");
            let _ = errors.to_string();
        }
    }
});
