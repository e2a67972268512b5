//! Stream framing (no I/O): cuts whole messages out of a byte stream by
//! Content-Length (RFC 3261 §18.3), handling pipelined and split messages and
//! CRLF keep-alives (RFC 5626 §3.5.1).

use bytes::{Buf, BytesMut};

use super::error::ParseError;
use super::message::Message;
use super::parse::{Limits, find_head_end, leading_line_ends, parse_content_length, parse_framed};

/// What the framer found at the front of the stream.
#[derive(Debug)]
pub enum Frame {
    /// A CRLFCRLF ping; the peer expects a CRLF pong.
    KeepAlive,
    /// One complete message (tokenised; a defect inside it is reported by
    /// validation, not here).
    Message(Message),
}

/// Frames messages out of a stream buffer. "Need more bytes" is `Ok(None)`;
/// an error means the stream cannot be resynchronised and must be closed.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamFramer {
    limits: Limits,
}

impl StreamFramer {
    pub fn new(limits: Limits) -> Self {
        Self { limits }
    }

    pub fn next_frame(&self, buf: &mut BytesMut) -> Result<Option<Frame>, ParseError> {
        if buf.starts_with(b"\r\n\r\n") {
            buf.advance(4);
            return Ok(Some(Frame::KeepAlive));
        }
        // A ping may still be arriving: wait rather than discard its start.
        if !buf.is_empty() && b"\r\n\r\n".starts_with(buf) {
            return Ok(None);
        }
        // RFC 3261 §7.5: stray line ends before a start line are ignored.
        let skip = leading_line_ends(buf);
        buf.advance(skip);
        if buf.is_empty() {
            return Ok(None);
        }
        let Some(end) = find_head_end(buf) else {
            return if buf.len() > self.limits.max_message_size {
                Err(ParseError::TooLarge {
                    size: buf.len(),
                    limit: self.limits.max_message_size,
                })
            } else {
                Ok(None)
            };
        };
        // A head longer than the limit is too large however it arrived: in
        // one read as in many (where it fails above before its end is seen).
        if end.body_start > self.limits.max_message_size {
            return Err(ParseError::TooLarge {
                size: end.body_start,
                limit: self.limits.max_message_size,
            });
        }
        let body_len = stream_content_length(&buf[..end.head_len])?;
        let total = end
            .body_start
            .checked_add(body_len)
            .ok_or(ParseError::BadContentLength)?;
        if total > self.limits.max_message_size {
            return Err(ParseError::TooLarge {
                size: total,
                limit: self.limits.max_message_size,
            });
        }
        if buf.len() < total {
            return Ok(None);
        }
        let data = buf.split_to(total);
        parse_framed(data, end, &self.limits).map(|m| Some(Frame::Message(m)))
    }
}

impl StreamFramer {
    /// The head at the front of `buf`, tokenised, when framing failed on it:
    /// enough to copy Via, From, To, Call-ID and CSeq into a 400.
    pub fn head_of(&self, buf: &[u8]) -> Option<Message> {
        let skip = leading_line_ends(buf);
        let data = &buf[skip..];
        let end = find_head_end(data)?;
        super::parse::parse_datagram(&data[..end.body_start], &self.limits).ok()
    }
}

/// On a stream Content-Length is mandatory (RFC 3261 §18.3) and must be
/// single and numeric. Found by a quick scan so that framing does not need
/// the full tokeniser.
fn stream_content_length(head: &[u8]) -> Result<usize, ParseError> {
    let mut found = None;
    for line in head.split(|b| *b == b'\n').skip(1) {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii_end();
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
            if found.is_some() {
                return Err(ParseError::Duplicate("Content-Length"));
            }
            let value = std::str::from_utf8(&line[colon + 1..])
                .map_err(|_| ParseError::BadContentLength)?;
            found = Some(parse_content_length(value)?);
        }
    }
    found.ok_or(ParseError::Missing("Content-Length"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] =
        b"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nl: 5\r\n\r\nhello";

    fn frames(framer: &StreamFramer, buf: &mut BytesMut) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Ok(Some(frame)) = framer.next_frame(buf) {
            out.push(frame);
        }
        out
    }

    #[test]
    fn split_at_every_byte() {
        let framer = StreamFramer::default();
        for split in 1..MSG.len() {
            let mut buf = BytesMut::from(&MSG[..split]);
            assert!(
                framer.next_frame(&mut buf).expect("no error").is_none(),
                "split {split}"
            );
            buf.extend_from_slice(&MSG[split..]);
            match framer.next_frame(&mut buf) {
                Ok(Some(Frame::Message(m))) => assert_eq!(m.body(), b"hello"),
                other => panic!("split {split}: {other:?}"),
            }
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn pipelined_and_keepalive() {
        let framer = StreamFramer::default();
        let mut buf = BytesMut::new();
        buf.extend_from_slice(MSG);
        buf.extend_from_slice(b"\r\n\r\n");
        buf.extend_from_slice(MSG);
        let got = frames(&framer, &mut buf);
        assert_eq!(got.len(), 3);
        assert!(matches!(got[1], Frame::KeepAlive));
    }

    /// Found by the `stream` fuzz target: a head over the limit read at
    /// once failed on its Content-Length (and got a 400), read in pieces it
    /// failed as too large (and the connection was closed).
    #[test]
    fn an_oversize_head_is_too_large_in_one_read_or_many() {
        let framer = StreamFramer::new(Limits {
            max_message_size: 64,
            max_headers: 10,
        });
        let mut message = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
        message.extend_from_slice(&[b'X'; 64]);
        message.extend_from_slice(b"\r\nl: z\r\n\r\n");
        let mut whole = BytesMut::from(&message[..]);
        assert!(matches!(
            framer.next_frame(&mut whole),
            Err(ParseError::TooLarge { .. })
        ));
        let mut pieces = BytesMut::from(&message[..70]);
        assert!(matches!(
            framer.next_frame(&mut pieces),
            Err(ParseError::TooLarge { .. })
        ));
    }

    #[test]
    fn missing_or_bad_length_and_oversize() {
        let framer = StreamFramer::new(Limits {
            max_message_size: 100,
            max_headers: 10,
        });
        let mut buf = BytesMut::from(&b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n"[..]);
        assert_eq!(
            framer.next_frame(&mut buf).err(),
            Some(ParseError::Missing("Content-Length"))
        );
        let mut buf =
            BytesMut::from(&b"OPTIONS sip:a@b SIP/2.0\r\nl: 18446744073709551615\r\n\r\n"[..]);
        assert_eq!(
            framer.next_frame(&mut buf).err(),
            Some(ParseError::BadContentLength)
        );
        let mut buf = BytesMut::from(&b"OPTIONS sip:a@b SIP/2.0\r\nl: 500\r\n\r\n"[..]);
        assert!(matches!(
            framer.next_frame(&mut buf),
            Err(ParseError::TooLarge { .. })
        ));
        let mut buf = BytesMut::from(&[b'A'; 200][..]);
        assert!(matches!(
            framer.next_frame(&mut buf),
            Err(ParseError::TooLarge { .. })
        ));
    }
}
