//! The interop harness: a list of named tests, each with the outside tools it
//! needs. A test whose tool is missing is reported as `ignored` with the
//! reason (never `ok`), and fails under `CI=true`, where `.ci/run` must have
//! installed it.
//!
//! To add tests: write `fn my_test()` (panicking on failure, like any
//! `#[test]`) in a module, list it in that module's `TESTS` as
//! `InteropTest { name: "my_test", requires: &[Tool::Baresip], run: my_test }`,
//! and add the module's `TESTS` to `main.rs`.

pub mod daemon;
pub mod process;
pub mod tools;

use libtest_mimic::{Completion, Failed, Trial};

pub use tools::Tool;

/// One interop test: its name (as `cargo test` filters it), the outside
/// tools it needs, and its body (which panics on failure).
#[derive(Clone, Copy)]
pub struct InteropTest {
    pub name: &'static str,
    pub requires: &'static [Tool],
    pub run: fn(),
}

impl InteropTest {
    /// The libtest-mimic trial: the tools are looked for when the test runs
    /// (so a filtered-out test installs nothing), then the body runs.
    pub fn trial(self) -> Trial {
        let kind = self
            .requires
            .iter()
            .map(|tool| tool.name())
            .collect::<Vec<_>>()
            .join(",");
        Trial::ignorable_test(self.name, move || {
            for tool in self.requires {
                if let Err(missing) = tool.available() {
                    return skip_or_fail(*tool, &missing);
                }
            }
            (self.run)();
            Ok(Completion::Completed)
        })
        .with_kind(kind)
    }
}

/// A missing tool: `ignored` with the reason, or a failure under CI.
fn skip_or_fail(tool: Tool, missing: &str) -> Result<Completion, Failed> {
    if under_ci() {
        return Err(format!(
            "{missing} (CI=true: .ci/run must install {})",
            tool.debian_package()
        )
        .into());
    }
    eprintln!(
        "INTEROP SKIPPED: {missing}; install {} for the full run",
        tool.debian_package()
    );
    Ok(Completion::ignored_with(missing))
}

/// `CI=true` (or `CI=1`): every tool must be there.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Removes ANSI colour codes (the daemon colours only a terminal, but a
/// stray code must not break a log match).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The harness's own checks (they need no tool).
pub const TESTS: &[InteropTest] = &[
    InteropTest {
        name: "harness::a_missing_tool_is_ignored_or_fails_under_ci",
        requires: &[],
        run: a_missing_tool_is_ignored_or_fails_under_ci,
    },
    InteropTest {
        name: "harness::listening_lines_are_parsed_with_and_without_colour",
        requires: &[],
        run: daemon::listening_lines_are_parsed_with_and_without_colour,
    },
];

/// A tool that cannot be there is reported as ignored, with the reason
/// (CI unset), or as a failure naming the package (CI=true).
fn a_missing_tool_is_ignored_or_fails_under_ci() {
    let missing = Tool::Program {
        program: "sip-autoresponder-no-such-tool",
        package: "no-such-package",
    };
    let reason = missing.available().expect_err("the tool cannot exist");
    assert!(
        reason.contains("sip-autoresponder-no-such-tool"),
        "{reason}"
    );
    match skip_or_fail(missing, &reason) {
        Ok(Completion::Ignored { reason: Some(why) }) => {
            assert!(!under_ci());
            assert!(why.contains("not found on PATH"), "{why}");
        }
        Err(failed) => {
            assert!(under_ci());
            let message = failed.message().unwrap_or_default();
            assert!(message.contains("no-such-package"), "{message}");
        }
        Ok(_) => panic!("a missing tool must never count as run"),
    }
}
