//! Kamailio (Debian's) as a record-routing proxy on a loopback address,
//! from a config of its own, in a process group of its own (it forks timer
//! and receiver processes even with `fork=no`), stopped on drop.

use std::fs::File;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::client::{STEP_WAIT, Scratch};

/// Kamailio on [::1] relaying to the daemon: record-routes, and writes
/// `received=::1` (no brackets) into the Via of baresip, which has `;rport`.
fn kamailio_config(listen: SocketAddr, daemon: SocketAddr) -> String {
    format!(
        r#"#!KAMAILIO
debug=2
log_stderror=yes
fork=no
auto_aliases=no
listen=udp:{listen}
alias="{listen}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "siputils.so"
loadmodule "textops.so"
request_route {{
    if (has_totag()) {{
        if (loose_route()) {{
            t_relay();
            exit;
        }}
        if (is_method("ACK") && t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    record_route();
    $du = "sip:{daemon}";
    if (!t_relay()) {{
        sl_reply_error();
    }}
    exit;
}}
"#
    )
}

/// Kamailio, our child, in a process group of its own (it forks timer and
/// receiver processes even with `fork=no`).
pub struct Kamailio {
    child: Child,
    dir: Scratch,
}

impl Kamailio {
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("kamailio.log")).unwrap_or_default()
    }
}

impl Drop for Kamailio {
    /// SIGTERM to our child, which ends the processes it forked; then
    /// SIGKILL to the group it leads (its id is the child's), in case.
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-s", "TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let group = format!("-{pid}");
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_kamailio(binary: &Path, listen: SocketAddr, daemon: SocketAddr) -> Kamailio {
    let dir = Scratch::new("kamailio");
    let config = dir.0.join("kamailio.cfg");
    std::fs::write(&config, kamailio_config(listen, daemon)).expect("kamailio config");
    let log = File::create(dir.0.join("kamailio.log")).expect("kamailio log");
    let child = Command::new(binary)
        .process_group(0)
        .arg("-f")
        .arg(&config)
        .args(["-DD", "-E", "-m", "32", "-M", "8"])
        .arg("-Y")
        .arg(&dir.0)
        .arg("-w")
        .arg(&dir.0)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log)
        .spawn()
        .expect("spawn kamailio");
    let kamailio = Kamailio { child, dir };
    // Ready once an OPTIONS through it is answered (by the daemon).
    let probe = UdpSocket::bind("[::1]:0").expect("bind");
    probe
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let port = probe.local_addr().expect("addr").port();
    let options = format!(
        "OPTIONS sip:probe@{listen} SIP/2.0\r\nVia: SIP/2.0/UDP [::1]:{port};branch=z9hG4bK-kprobe;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@[::1]>;tag=p\r\nTo: <sip:probe@{listen}>\r\n\
         Call-ID: kamailio-probe\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    let deadline = Instant::now() + STEP_WAIT;
    let mut buf = vec![0u8; 65_535];
    let mut last = String::new();
    loop {
        let _ = probe.send_to(options.as_bytes(), listen);
        if let Ok((len, _)) = probe.recv_from(&mut buf) {
            if buf[..len].starts_with(b"SIP/2.0 200 ") {
                return kamailio;
            }
            last = String::from_utf8_lossy(&buf[..len]).into_owned();
        }
        assert!(
            Instant::now() < deadline,
            "an OPTIONS through Kamailio got no 200 within {STEP_WAIT:?}; last answer:\n{last}\n--- kamailio ---\n{}",
            kamailio.log()
        );
    }
}
