//! sd_notify client (sd_notify(3), systemd.service(5) Type=notify): READY,
//! RELOADING, STOPPING, STATUS and WATCHDOG datagrams to `$NOTIFY_SOCKET`,
//! without libsystemd and without unsafe code.

use std::io;
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use tracing::warn;

/// How long one notification may block: systemd drains its socket at once,
/// so only a wedged manager makes this wait, and then the daemon must not.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// Sends service state changes to the service manager. Without
/// `NOTIFY_SOCKET` it is a no-op: nothing is ever sent.
#[derive(Debug)]
pub struct Notifier {
    target: Option<Target>,
    watchdog: Option<Duration>,
}

#[derive(Debug)]
struct Target {
    socket: UnixDatagram,
    address: SocketAddr,
    /// As given in the environment, for log lines.
    name: String,
}

impl Notifier {
    /// The notifier systemd asks for through `NOTIFY_SOCKET`, `WATCHDOG_USEC`
    /// and `WATCHDOG_PID`. The variables are left in place: the daemon starts
    /// no children that could misuse them (and clearing the environment is
    /// unsafe in edition 2024).
    pub fn from_env() -> Self {
        let socket = std::env::var("NOTIFY_SOCKET").ok();
        let usec = std::env::var("WATCHDOG_USEC").ok();
        let pid = std::env::var("WATCHDOG_PID").ok();
        Self::from_socket_name(socket.as_deref()).with_watchdog(watchdog_period(
            usec.as_deref(),
            pid.as_deref(),
            std::process::id(),
        ))
    }

    /// A notifier for an explicit socket name: a path, or an abstract name
    /// starting with `@` (sd_notify(3)). `None` or `""` gives a no-op notifier.
    pub fn from_socket_name(name: Option<&str>) -> Self {
        let target = match name.filter(|n| !n.is_empty()).map(Target::open) {
            None => None,
            Some(Ok(target)) => Some(target),
            Some(Err(error)) => {
                let socket = name.unwrap_or_default();
                warn!(%error, socket, "NOTIFY_SOCKET unusable; systemd is not notified");
                None
            }
        };
        Self {
            target,
            watchdog: None,
        }
    }

    /// A notifier that never sends anything.
    pub fn disabled() -> Self {
        Self {
            target: None,
            watchdog: None,
        }
    }

    /// Sets the watchdog ping period (see [`watchdog_period`]).
    pub fn with_watchdog(mut self, period: Option<Duration>) -> Self {
        self.watchdog = period;
        self
    }

    /// Whether a service manager listens.
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// `READY=1` with a status line: every listener is bound.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    /// `RELOADING=1` with the `MONOTONIC_USEC` systemd ≥ 253 requires to
    /// match it to its reload request (sd_notify(3)); follow with [`ready`].
    ///
    /// [`ready`]: Self::ready
    pub fn reloading(&self) {
        if !self.is_enabled() {
            return;
        }
        match monotonic_usec() {
            Some(usec) => self.send(&format!("RELOADING=1\nMONOTONIC_USEC={usec}")),
            None => {
                warn!("CLOCK_MONOTONIC unreadable; sending RELOADING=1 without MONOTONIC_USEC");
                self.send("RELOADING=1");
            }
        }
    }

    /// `STOPPING=1`: shutdown has begun.
    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    /// `EXTEND_TIMEOUT_USEC=…`: asks for `by` more time than
    /// TimeoutStartSec=/TimeoutStopSec= allow, e.g. while draining
    /// transactions at shutdown (sd_notify(3), systemd ≥ 236).
    pub fn extend_timeout(&self, by: Duration) {
        self.send(&format!("EXTEND_TIMEOUT_USEC={}", by.as_micros()));
    }

    /// `WATCHDOG=1`: the keep-alive ping of systemd.service(5) WatchdogSec=.
    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    /// `STATUS=…`: a free-form line `systemctl status` shows.
    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={}", one_line(status)));
    }

    /// How often to send [`watchdog`](Self::watchdog): half of `WATCHDOG_USEC`,
    /// or `None` when the watchdog is off or meant for another process.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.filter(|_| self.is_enabled())
    }

    /// Pings the watchdog forever at [`watchdog_interval`]; never returns
    /// when there is no watchdog. Run it in a `select!` with the shutdown.
    ///
    /// [`watchdog_interval`]: Self::watchdog_interval
    pub async fn keep_alive(&self) {
        let Some(period) = self.watchdog_interval() else {
            return std::future::pending().await;
        };
        let mut ticks = tokio::time::interval(period);
        // A late tick is sent once, not in a burst.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            self.watchdog();
        }
    }

    /// Sends one raw notification (newline-separated `KEY=value` lines).
    /// A failure is logged, never fatal: the service keeps serving.
    pub fn send(&self, state: &str) {
        let Some(target) = &self.target else {
            return;
        };
        if let Err(error) = target
            .socket
            .send_to_addr(state.as_bytes(), &target.address)
        {
            let first = state.lines().next().unwrap_or_default();
            warn!(%error, socket = %target.name, state = first, "sd_notify failed");
        }
    }
}

impl Target {
    fn open(name: &str) -> io::Result<Self> {
        // sd_notify(3): '@' is an abstract socket; other forms (vsock:) are
        // for VMs and not supported here.
        let address = match name.strip_prefix('@') {
            Some(abstract_name) => SocketAddr::from_abstract_name(abstract_name.as_bytes())?,
            None if name.starts_with('/') => SocketAddr::from_pathname(name)?,
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "only absolute paths and @abstract names are supported",
                ));
            }
        };
        let socket = UnixDatagram::unbound()?;
        socket.set_write_timeout(Some(SEND_TIMEOUT))?;
        Ok(Self {
            socket,
            address,
            name: name.to_owned(),
        })
    }
}

/// The watchdog ping period: half of `WATCHDOG_USEC` (sd_watchdog_enabled(3)
/// recommends pinging at half the timeout), if it is set, positive, and
/// `WATCHDOG_PID` is unset or names `our_pid`.
pub fn watchdog_period(usec: Option<&str>, pid: Option<&str>, our_pid: u32) -> Option<Duration> {
    if let Some(pid) = pid.filter(|p| !p.is_empty())
        && pid.trim().parse::<u32>().ok() != Some(our_pid)
    {
        return None;
    }
    let usec: u64 = usec?.trim().parse().ok().filter(|&u| u > 0)?;
    Some(Duration::from_micros(usec) / 2)
}

/// A STATUS value is one line: a newline would start another assignment.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// CLOCK_MONOTONIC in µs, the clock `MONOTONIC_USEC` is read on.
///
/// No dependency in the tree wraps clock_gettime(2) safely and the crate
/// forbids unsafe code, but on Linux `std::time::Instant` *is* a
/// CLOCK_MONOTONIC timespec and its `Debug` shows it
/// (`Instant { tv_sec: 1607, tv_nsec: 318994996 }`). That format is not a
/// stability promise, so a unit test pins it and, should it change, the
/// fallback is `/proc/uptime` (CLOCK_BOOTTIME, 10 ms steps), rounded up: it
/// is never below CLOCK_MONOTONIC, which is what systemd needs to accept the
/// RELOADING=1 as newer than its own reload request.
pub fn monotonic_usec() -> Option<u64> {
    // CLOCK_MONOTONIC, as sd_notify(3) asks for MONOTONIC_USEC.
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let secs = u64::try_from(now.tv_sec).ok()?;
    let nanos = u64::try_from(now.tv_nsec).ok()?;
    Some(secs * 1_000_000 + nanos / 1_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive(socket: &UnixDatagram) -> String {
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut buf = [0u8; 512];
        let n = socket.recv(&mut buf).expect("datagram");
        String::from_utf8(buf[..n].to_vec()).expect("utf8")
    }

    fn unique(prefix: &str) -> String {
        format!("{prefix}-{}-{}", std::process::id(), fastrand::u64(..))
    }

    #[test]
    fn path_socket_receives_exact_datagrams() {
        let dir = std::env::temp_dir().join(unique("sip-autoresponder-notify"));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("notify");
        let listener = UnixDatagram::bind(&path).expect("bind");
        let notifier = Notifier::from_socket_name(path.to_str());
        assert!(notifier.is_enabled());
        notifier.ready("listening on udp 127.0.0.1:5060\nextra");
        assert_eq!(
            receive(&listener),
            "READY=1\nSTATUS=listening on udp 127.0.0.1:5060 extra"
        );
        notifier.stopping();
        assert_eq!(receive(&listener), "STOPPING=1");
        notifier.watchdog();
        assert_eq!(receive(&listener), "WATCHDOG=1");
        notifier.status("draining 3 transactions");
        assert_eq!(receive(&listener), "STATUS=draining 3 transactions");
        notifier.extend_timeout(Duration::from_secs(10));
        assert_eq!(receive(&listener), "EXTEND_TIMEOUT_USEC=10000000");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn abstract_socket_receives_reloading_with_monotonic_usec() {
        let name = unique("sip-autoresponder-test");
        let address = SocketAddr::from_abstract_name(name.as_bytes()).expect("name");
        let listener = UnixDatagram::bind_addr(&address).expect("bind");
        let notifier = Notifier::from_socket_name(Some(&format!("@{name}")));
        let before = monotonic_usec().expect("clock");
        notifier.reloading();
        let after = monotonic_usec().expect("clock");
        let text = receive(&listener);
        let usec: u64 = text
            .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("unexpected datagram {text:?}"));
        assert!(before <= usec && usec <= after, "{before} {usec} {after}");
        notifier.ready("reloaded");
        assert_eq!(receive(&listener), "READY=1\nSTATUS=reloaded");
    }

    #[test]
    fn without_socket_nothing_is_sent() {
        for name in [None, Some("")] {
            let notifier =
                Notifier::from_socket_name(name).with_watchdog(Some(Duration::from_secs(5)));
            assert!(!notifier.is_enabled());
            assert_eq!(notifier.watchdog_interval(), None);
            notifier.ready("x");
            notifier.reloading();
            notifier.stopping();
        }
        assert!(!Notifier::from_socket_name(Some("vsock:2:1")).is_enabled());
    }

    #[test]
    fn send_failure_is_not_fatal() {
        let notifier = Notifier::from_socket_name(Some("/nonexistent/sip-autoresponder/notify"));
        assert!(notifier.is_enabled());
        notifier.ready("nobody listens");
    }

    #[test]
    fn watchdog_period_is_half_the_timeout_for_our_pid() {
        let half = Some(Duration::from_secs(15));
        assert_eq!(watchdog_period(Some("30000000"), None, 42), half);
        assert_eq!(watchdog_period(Some("30000000"), Some("42"), 42), half);
        assert_eq!(watchdog_period(Some("30000000"), Some(""), 42), half);
        assert_eq!(watchdog_period(Some("30000000"), Some("43"), 42), None);
        assert_eq!(watchdog_period(Some("0"), None, 42), None);
        assert_eq!(watchdog_period(Some("soon"), None, 42), None);
        assert_eq!(watchdog_period(None, Some("42"), 42), None);
    }

    #[test]
    fn monotonic_clock_moves_forward() {
        let first = monotonic_usec().expect("clock");
        std::thread::sleep(Duration::from_millis(2));
        assert!(monotonic_usec().expect("clock") > first);
    }
}
