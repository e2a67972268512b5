//! baresip driven over its ctrl_tcp socket: its own config directory,
//! bound to loopback, no audio device, quitting by itself after
//! `BARESIP_LIFETIME` at the latest, killed by its handle on drop.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long baresip lives at most (`-t`): it quits by itself after that.
const BARESIP_LIFETIME: Duration = Duration::from_secs(30);
/// How long one step of a scenario (registered, established…) may take.
pub const STEP_WAIT: Duration = Duration::from_secs(10);

/// A directory of our own under the temp dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(what: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sip-autoresponder-{what}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A TCP port nobody uses right now on 127.0.0.1.
fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free TCP port")
        .port()
}

/// A UDP port nobody uses right now on `ip`.
pub fn free_port(ip: IpAddr) -> u16 {
    UdpSocket::bind(SocketAddr::new(ip, 0))
        .and_then(|socket| socket.local_addr())
        .expect("a free port")
        .port()
}

/// One baresip, driven over its ctrl_tcp socket (netstring JSON).
pub struct Baresip {
    child: Child,
    dir: Scratch,
    control: TcpStream,
    pending: Vec<u8>,
    /// Every event seen so far.
    pub events: Vec<Value>,
    /// Answers to commands not yet looked at.
    responses: Vec<Value>,
}

impl Baresip {
    /// Starts baresip with `account` (an accounts line), bound to `local`.
    pub fn start(binary: &Path, account: &str, local: IpAddr) -> Self {
        // The control port is picked free, then bound by baresip: another
        // test may take it in between, so a start that cannot be reached
        // is tried again (a few times, each bounded by STEP_WAIT).
        let mut attempt = 1;
        loop {
            match Self::start_once(binary, account, local) {
                Ok(baresip) => return baresip,
                Err(why) if attempt < 3 => {
                    eprintln!("baresip start {attempt} failed, again: {why}");
                    attempt += 1;
                }
                Err(why) => panic!("{why}"),
            }
        }
    }

    fn start_once(binary: &Path, account: &str, local: IpAddr) -> Result<Self, String> {
        let dir = Scratch::new("baresip");
        let control_port = free_tcp_port();
        let listen = SocketAddr::new(local, 0);
        let config = format!(
            "poll_method\tepoll\nsip_listen\t{listen}\nnet_interface\t{local}\n\
             call_local_timeout\t30\naudio_player\taubridge,none\naudio_source\taubridge,none\n\
             audio_alert\taubridge,none\nmodule_path\t/usr/lib/baresip/modules\n\
             module\tg711.so\nmodule\taubridge.so\nmodule\tctrl_tcp.so\n\
             module_tmp\tuuid.so\nmodule_tmp\taccount.so\nmodule_app\tmenu.so\n\
             ctrl_tcp_listen\t127.0.0.1:{control_port}\n"
        );
        std::fs::write(dir.0.join("config"), config).expect("baresip config");
        std::fs::write(dir.0.join("accounts"), format!("{account}\n")).expect("accounts");
        let output = File::create(dir.0.join("output.log")).expect("baresip log");
        let mut child = Command::new(binary)
            .arg("-f")
            .arg(&dir.0)
            .arg("-s")
            .args(["-t", &BARESIP_LIFETIME.as_secs().to_string()])
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("log handle"))
            .stderr(output)
            .spawn()
            .expect("spawn baresip");
        let deadline = Instant::now() + STEP_WAIT;
        let control = loop {
            match TcpStream::connect(("127.0.0.1", control_port)) {
                Ok(stream) => break stream,
                Err(_) if Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(error) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log = std::fs::read_to_string(dir.0.join("output.log")).unwrap_or_default();
                    return Err(format!(
                        "baresip's ctrl_tcp on {control_port}: {error}\n{log}"
                    ));
                }
            }
        };
        control
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("read timeout");
        let mut baresip = Self {
            child,
            dir,
            control,
            pending: Vec::new(),
            events: Vec::new(),
            responses: Vec::new(),
        };
        // Events reach only a connection baresip has accepted, which it
        // does once running: a command's answer says it is.
        baresip.wait_until("reginfo", |data| data.contains("User Agents (1)"));
        Ok(baresip)
    }

    pub fn command(&mut self, command: &str, params: &str) {
        let body = serde_json::json!({ "command": command, "params": params, "token": command })
            .to_string();
        let netstring = format!("{}:{body},", body.len());
        self.control
            .write_all(netstring.as_bytes())
            .expect("a ctrl_tcp command");
    }

    /// Sends `command` until its answer's data satisfies `done`.
    pub fn wait_until(&mut self, command: &str, done: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + STEP_WAIT;
        loop {
            self.command(command, "");
            let asked = Instant::now();
            while Instant::now() < asked + Duration::from_millis(300) {
                self.read_events();
                if let Some(answer) = self.responses.pop() {
                    if done(answer["data"].as_str().unwrap_or("")) {
                        return;
                    }
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "baresip: `{command}` did not say so within {STEP_WAIT:?}\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for an event of `kind`; returns it.
    pub fn wait_event(&mut self, kind: &str) -> Value {
        let deadline = Instant::now() + STEP_WAIT;
        loop {
            if let Some(found) = self.events.iter().find(|e| e["type"] == kind) {
                return found.clone();
            }
            assert!(
                Instant::now() < deadline,
                "baresip: no {kind} event within {STEP_WAIT:?}; events: {:?}\n--- baresip output ---\n{}",
                self.events,
                self.output()
            );
            self.read_events();
        }
    }

    fn read_events(&mut self) {
        let mut buf = [0u8; 4096];
        match self.control.read(&mut buf) {
            Ok(0) => std::thread::sleep(Duration::from_millis(50)),
            Ok(read) => self.pending.extend_from_slice(&buf[..read]),
            Err(_) => {}
        }
        // Netstrings: `LEN:JSON,`.
        while let Some(colon) = self.pending.iter().position(|&b| b == b':') {
            let Some(len) = std::str::from_utf8(&self.pending[..colon])
                .ok()
                .and_then(|n| n.parse::<usize>().ok())
            else {
                panic!("baresip ctrl_tcp: not a netstring: {:?}", self.pending);
            };
            if self.pending.len() < colon + 1 + len + 1 {
                return;
            }
            let body = self.pending[colon + 1..colon + 1 + len].to_vec();
            self.pending.drain(..colon + 1 + len + 1);
            match serde_json::from_slice::<Value>(&body) {
                Ok(value) if value["event"] == true => self.events.push(value),
                Ok(value) if value["response"] == true => self.responses.push(value),
                _ => {}
            }
        }
    }

    /// What baresip printed (its SIP trace included).
    pub fn output(&self) -> String {
        std::fs::read(self.dir.0.join("output.log"))
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// `quit`, then waits for the process to end (un-REGISTER included).
    pub fn quit(&mut self) {
        self.command("quit", "");
        let deadline = Instant::now() + STEP_WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "baresip did not quit within {STEP_WAIT:?}:\n{}",
            self.output()
        );
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        // Our own child, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
