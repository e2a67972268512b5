//! Unit tests of the SDP module: shared helpers; the tests are in the submodules.
//!
//! Fixtures are read from tests/fixtures/sdp/ (see its README for where
//! their text comes from).

mod answer;
mod offer;
mod parse;
mod webrtc;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::OnceLock;

use super::{AnswerContext, Codec, DtlsIdentity, Preference};

/// One identity for the whole test binary (generation is the slow part).
fn identity() -> &'static DtlsIdentity {
    static IDENTITY: OnceLock<DtlsIdentity> = OnceLock::new();
    IDENTITY.get_or_init(|| DtlsIdentity::generate().expect("identity generates"))
}

/// The address answers use in the tests.
const ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

/// A context at 192.0.2.1, session 1234 version 1, ports from 40000.
fn ctx(codecs: &[Codec]) -> AnswerContext<'_> {
    AnswerContext {
        address: ADDRESS,
        session_id: 1234,
        session_version: 1,
        base_port: 40000,
        codecs,
        dtls: identity(),
        prefer: Preference::Theirs,
    }
}

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sdp")
}

/// A fixture's text.
fn fixture(name: &str) -> String {
    let path = fixture_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `*.sdp` fixture, sorted by name.
fn all_fixtures() -> Vec<(String, String)> {
    let mut names: Vec<String> = std::fs::read_dir(fixture_dir())
        .expect("fixture directory")
        .map(|entry| entry.expect("directory entry").file_name())
        .filter_map(|name| name.into_string().ok())
        .filter(|name| name.ends_with(".sdp"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let text = fixture(&name);
            (name, text)
        })
        .collect()
}

/// The answer's lines (it must end with CRLF).
fn lines(sdp: &str) -> Vec<&str> {
    let body = sdp.strip_suffix("\r\n").expect("ends with CRLF");
    body.split("\r\n").collect()
}

/// The lines of each media section, from its m-line to the next.
fn sections(sdp: &str) -> Vec<Vec<&str>> {
    let mut sections: Vec<Vec<&str>> = Vec::new();
    for line in lines(sdp) {
        if line.starts_with("m=") {
            sections.push(vec![line]);
        } else if let Some(section) = sections.last_mut() {
            section.push(line);
        }
    }
    sections
}

/// The session-level lines (before the first m-line).
fn session_lines(sdp: &str) -> Vec<&str> {
    lines(sdp)
        .into_iter()
        .take_while(|line| !line.starts_with("m="))
        .collect()
}

/// The value of the first `a=<name>:` line of a section.
fn attribute<'s>(section: &[&'s str], name: &str) -> Option<&'s str> {
    let prefix = format!("a={name}:");
    section
        .iter()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
}

/// The default list plus video VP8.
fn codecs_with_vp8() -> Vec<Codec> {
    let mut codecs = super::default_codecs();
    codecs.push(Codec::new("video", "VP8", Some(90000)));
    codecs
}
