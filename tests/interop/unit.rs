//! The systemd unit, as systemd-analyze sees it: `verify` accepts it and
//! `security` rates its exposure at most 2.0.

use std::path::PathBuf;
use std::process::Command;

use crate::harness::daemon::BINARY;
use crate::harness::{InteropTest, Tool};

const UNIT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/systemd/sip-autoresponder.service"
);
/// The worst exposure the README promises.
const MAX_EXPOSURE: f64 = 2.0;

pub const TESTS: &[InteropTest] = &[
    InteropTest {
        name: "unit::systemd_analyze_verifies_the_unit",
        requires: &[Tool::SystemdAnalyze],
        run: systemd_analyze_verifies_the_unit,
    },
    InteropTest {
        name: "unit::systemd_analyze_security_rates_the_unit_at_most_2_0",
        requires: &[Tool::SystemdAnalyze],
        run: systemd_analyze_security_rates_the_unit_at_most_2_0,
    },
];

/// The unit with ExecStart= pointing at the binary under test (verify
/// checks that the executable exists), in a scratch directory.
fn unit_under_test() -> PathBuf {
    let unit = std::fs::read_to_string(UNIT).expect("unit");
    let dir = std::env::temp_dir().join(format!(
        "sip-autoresponder-unit-{}-{}",
        std::process::id(),
        fastrand::u32(..)
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join("sip-autoresponder.service");
    std::fs::write(&path, unit.replace("/usr/bin/sip-autoresponder", BINARY)).expect("write unit");
    path
}

fn systemd_analyze_verifies_the_unit() {
    let path = unit_under_test();
    let verify = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("run systemd-analyze");
    let _ = std::fs::remove_dir_all(path.parent().expect("scratch dir"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(verify.status.success(), "systemd-analyze verify: {text}");
    // verify exits 0 on some warnings too (an unknown key, say): clean means
    // nothing said about our unit.
    let about_unit: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("sip-autoresponder.service"))
        .collect();
    assert!(about_unit.is_empty(), "systemd-analyze verify: {text}");
}

fn systemd_analyze_security_rates_the_unit_at_most_2_0() {
    let path = unit_under_test();
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&path)
        .output()
        .expect("run systemd-analyze");
    let _ = std::fs::remove_dir_all(path.parent().expect("scratch dir"));
    let text = String::from_utf8_lossy(&security.stdout);
    let exposure = text
        .lines()
        .find_map(|l| {
            l.split_once("Overall exposure level for ")?
                .1
                .split(": ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or_else(|| {
            panic!(
                "no exposure level in:\n{text}{}",
                String::from_utf8_lossy(&security.stderr)
            )
        });
    assert!(
        exposure <= MAX_EXPOSURE,
        "exposure {exposure} > {MAX_EXPOSURE}:\n{text}"
    );
}
