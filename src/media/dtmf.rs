//! DTMF: RFC 4733 telephone-events received (one digit per event, however
//! often its end packet is repeated) and sent (a digit's packets at the
//! ptime, then its end packet three times, §2.5.1.4), and the SIP INFO
//! bodies that carry digits (application/dtmf-relay, application/dtmf).

/// How long each digit we send lasts, and the pause after it.
pub const DIGIT_MS: u32 = 100;
pub const GAP_MS: u32 = 60;

/// Most digits a `dtmf` string may hold.
pub const MAX_DIGITS: usize = 64;

/// RFC 4733 §3.2: events 0–15 are the DTMF digits.
pub fn digit_of_event(event: u8) -> Option<char> {
    b"0123456789*#ABCD"
        .get(usize::from(event))
        .map(|&b| char::from(b))
}

pub fn event_of_digit(digit: char) -> Option<u8> {
    "0123456789*#ABCD"
        .find(digit.to_ascii_uppercase())
        .and_then(|i| u8::try_from(i).ok())
}

/// One telephone-event payload (§2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPayload {
    pub event: u8,
    pub end: bool,
    pub volume: u8,
    /// In RTP timestamp units.
    pub duration: u16,
}

impl EventPayload {
    pub fn parse(payload: &[u8]) -> Option<Self> {
        let [event, flags, high, low, ..] = *payload else {
            return None;
        };
        Some(Self {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([high, low]),
        })
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(self.event);
        out.push((u8::from(self.end) << 7) | (self.volume & 0x3F));
        out.extend_from_slice(&self.duration.to_be_bytes());
    }
}

/// A digit received, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digit {
    pub digit: char,
    pub duration_ms: u32,
}

/// Turns the packets of telephone-events into digits (§2.5.2: packets of
/// one event share its timestamp; the end packet may come several times,
/// or be lost).
#[derive(Debug, Default)]
pub struct Detector {
    current: Option<(u32, EventPayload)>,
    reported: Option<u32>,
}

impl Detector {
    /// A telephone-event packet with RTP `timestamp`; `clock` is its rate.
    /// Returns the digits it completes (an earlier event whose end was
    /// lost, then this one when it ends).
    pub fn packet(&mut self, timestamp: u32, payload: EventPayload, clock: u32) -> Vec<Digit> {
        let mut done = Vec::new();
        if self.reported == Some(timestamp) {
            return done;
        }
        if let Some((started, previous)) = self.current
            && started != timestamp
        {
            done.extend(to_digit(previous, clock));
            self.current = None;
        }
        if payload.end {
            done.extend(to_digit(payload, clock));
            self.reported = Some(timestamp);
            self.current = None;
        } else {
            self.current = Some((timestamp, payload));
        }
        done
    }

    /// The event still open when the stream ends.
    pub fn flush(&mut self, clock: u32) -> Option<Digit> {
        self.current.take().and_then(|(_, p)| to_digit(p, clock))
    }
}

fn to_digit(payload: EventPayload, clock: u32) -> Option<Digit> {
    Some(Digit {
        digit: digit_of_event(payload.event)?,
        duration_ms: u32::from(payload.duration) * 1000 / clock.max(1),
    })
}

/// The digit of a SIP INFO body: `application/dtmf-relay` (`Signal=5`,
/// `Duration=160` in ms) or `application/dtmf` (the digit alone).
pub fn info_digit(content_type: &str, body: &str) -> Option<Digit> {
    let media = content_type.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("application/dtmf") {
        let digit = body.trim().chars().next()?;
        event_of_digit(digit)?;
        return Some(Digit {
            digit: digit.to_ascii_uppercase(),
            duration_ms: 0,
        });
    }
    if !media.eq_ignore_ascii_case("application/dtmf-relay") {
        return None;
    }
    let mut digit = None;
    let mut duration_ms = 0;
    for line in body.lines() {
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        if name.trim().eq_ignore_ascii_case("signal") {
            let first = value.chars().next()?;
            // Some phones send events by number (Signal=10 for `*`).
            digit = match value.parse::<u8>() {
                Ok(event) if value.len() > 1 => digit_of_event(event),
                _ => event_of_digit(first).map(|_| first.to_ascii_uppercase()),
            };
        } else if name.trim().eq_ignore_ascii_case("duration") {
            duration_ms = value.parse().unwrap_or(0);
        }
    }
    Some(Digit {
        digit: digit?,
        duration_ms,
    })
}

/// Whether every character of `digits` is a DTMF digit (config check).
pub fn valid_digits(digits: &str) -> bool {
    !digits.is_empty()
        && digits.chars().count() <= MAX_DIGITS
        && digits.chars().all(|c| event_of_digit(c).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event: u8, end: bool, duration: u16) -> EventPayload {
        EventPayload {
            event,
            end,
            volume: 10,
            duration,
        }
    }

    #[test]
    fn one_digit_per_event_whatever_the_repeats() {
        let mut detector = Detector::default();
        assert!(detector.packet(1000, event(1, false, 160), 8000).is_empty());
        assert!(detector.packet(1000, event(1, false, 320), 8000).is_empty());
        let done = detector.packet(1000, event(1, true, 800), 8000);
        assert_eq!(
            done,
            vec![Digit {
                digit: '1',
                duration_ms: 100
            }]
        );
        assert!(detector.packet(1000, event(1, true, 800), 8000).is_empty());
        assert!(detector.packet(1000, event(1, true, 800), 8000).is_empty());
        // A `#` whose end is lost is reported when the next event starts.
        assert!(
            detector
                .packet(3000, event(11, false, 400), 8000)
                .is_empty()
        );
        let done = detector.packet(5000, event(0, false, 160), 8000);
        assert_eq!(done[0].digit, '#');
        assert_eq!(detector.flush(8000).map(|d| d.digit), Some('0'));
    }

    #[test]
    fn payloads_round_trip() {
        let payload = event(11, true, 1234);
        let mut out = Vec::new();
        payload.write(&mut out);
        assert_eq!(EventPayload::parse(&out), Some(payload));
        assert_eq!(EventPayload::parse(&out[..3]), None);
    }

    #[test]
    fn info_bodies() {
        let relay = info_digit("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n");
        assert_eq!(
            relay,
            Some(Digit {
                digit: '5',
                duration_ms: 160
            })
        );
        assert_eq!(
            info_digit("Application/DTMF-Relay; x=y", "Signal= #\nDuration=100").map(|d| d.digit),
            Some('#')
        );
        assert_eq!(
            info_digit("application/dtmf-relay", "Signal=10").map(|d| d.digit),
            Some('*')
        );
        assert_eq!(
            info_digit("application/dtmf", "7\r\n").map(|d| d.digit),
            Some('7')
        );
        assert_eq!(info_digit("application/dtmf-relay", "Duration=100"), None);
        assert_eq!(info_digit("text/plain", "Signal=1"), None);
        assert_eq!(info_digit("application/dtmf-relay", "Signal=X"), None);
    }

    #[test]
    fn digit_strings() {
        assert!(valid_digits("1234#*ABCD"));
        assert!(!valid_digits(""));
        assert!(!valid_digits("12e"));
        assert!(!valid_digits(&"1".repeat(MAX_DIGITS + 1)));
    }
}
