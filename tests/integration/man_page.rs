//! The man page, sip-autoresponder(8), generated from the command line
//! (clap's options and subcommands, then `cli::MAN_SECTIONS`). The package
//! installs docs/sip-autoresponder.8; this test fails when it no longer is
//! what the CLI generates, and `UPDATE_MAN_PAGE=1 cargo test man_page`
//! writes it anew.

use clap::CommandFactory as _;
use roff::{Roff, bold, roman};
use sip_autoresponder::cli::{Cli, MAN_SECTIONS};

const MAN_PAGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/sip-autoresponder.8");

/// The page: clap_mangen's (name, synopsis, description, options,
/// subcommands, version), then ours instead of `--help`'s plain-text copy.
fn generate() -> String {
    let command = Cli::command().after_long_help(None::<&str>);
    let man = clap_mangen::Man::new(command)
        .section("8")
        .manual("System Manager's Manual")
        .source(concat!("sip-autoresponder ", env!("CARGO_PKG_VERSION")));
    let mut page = Vec::new();
    man.render(&mut page).expect("render into memory");
    let mut roff = Roff::new();
    for (title, entries) in MAN_SECTIONS {
        roff.control("SH", [*title]);
        for (term, body) in *entries {
            if term.is_empty() {
                roff.control("PP", []).text([roman(*body)]);
            } else {
                roff.control("TP", [])
                    .text([bold(*term)])
                    .text([roman(*body)]);
            }
        }
    }
    let mut text = String::from_utf8(page).expect("roff is UTF-8");
    text.push_str(&roff.render());
    text
}

#[test]
fn man_page_is_generated_from_the_cli() {
    let generated = generate();
    if std::env::var_os("UPDATE_MAN_PAGE").is_some() {
        std::fs::write(MAN_PAGE, &generated).expect("write the man page");
    }
    let committed = std::fs::read_to_string(MAN_PAGE).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/sip-autoresponder.8 is not what the CLI generates: run `UPDATE_MAN_PAGE=1 cargo test man_page`"
    );
    // What an operator looks up there.
    for needle in [
        ".TH sip-autoresponder 8",
        "\\-\\-strict",
        ".SH \"EXIT STATUS\"",
        "\\fB69\\fR",
        "EX_UNAVAILABLE",
        ".SH SIGNALS",
    ] {
        assert!(generated.contains(needle), "{needle} missing:\n{generated}");
    }
}
