//! Stream framing (no I/O): cuts whole messages out of a byte stream by
//! Content-Length (RFC 3261 §18.3), handling pipelined and split messages and
//! CRLF keep-alives (RFC 5626 §3.5.1).

use bytes::{Buf, BytesMut};

use super::error::ParseError;
use super::message::Message;
use super::parse::{
    HeadEnd, Limits, find_head_end, leading_line_ends, parse_content_length, parse_framed,
};

/// What the framer found at the front of the stream.
#[derive(Debug)]
pub enum Frame {
    /// A CRLFCRLF ping; the peer expects a CRLF pong.
    KeepAlive,
    /// One complete message (tokenised; a defect inside it is reported by
    /// validation, not here).
    Message(Message),
}

/// Frames messages out of one connection's stream buffer. "Need more
/// bytes" is `Ok(None)`; an error means the stream cannot be resynchronised
/// and must be closed.
///
/// One framer per connection: it remembers how far the previous call got,
/// so a message that arrives a byte per read costs linear time, not a scan
/// of the whole buffer per read (a slow-loris CPU amplifier otherwise).
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamFramer {
    limits: Limits,
    progress: Progress,
}

/// How far into the message at the front of the buffer framing has got.
#[derive(Debug, Clone, Copy)]
enum Progress {
    /// The first `searched` bytes hold no end of head.
    Head { searched: usize },
    /// The head has been read; the message is `total` bytes long.
    Body { end: HeadEnd, total: usize },
}

impl Default for Progress {
    fn default() -> Self {
        Self::Head { searched: 0 }
    }
}

/// The longest head terminator (CRLF CRLF) less one: a search resumed this
/// far before where the last one stopped finds a terminator split by reads.
const TERMINATOR_OVERLAP: usize = 3;

impl StreamFramer {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            progress: Progress::default(),
        }
    }

    /// The next frame at the front of `buf`. Between calls, `buf` may only
    /// grow at its end (the reads); the framer consumes from its front.
    pub fn next_frame(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, ParseError> {
        let (end, total) = match self.progress {
            Progress::Body { end, total } => (end, total),
            Progress::Head { searched } => match self.read_head(buf, searched)? {
                HeadProgress::KeepAlive => return Ok(Some(Frame::KeepAlive)),
                HeadProgress::Incomplete => return Ok(None),
                HeadProgress::Complete { end, total } => (end, total),
            },
        };
        if buf.len() < total {
            self.progress = Progress::Body { end, total };
            return Ok(None);
        }
        self.progress = Progress::default();
        let data = buf.split_to(total);
        parse_framed(data, end, &self.limits).map(|m| Some(Frame::Message(m)))
    }

    fn read_head(
        &mut self,
        buf: &mut BytesMut,
        searched: usize,
    ) -> Result<HeadProgress, ParseError> {
        if searched == 0 {
            if buf.starts_with(b"\r\n\r\n") {
                buf.advance(4);
                return Ok(HeadProgress::KeepAlive);
            }
            // A ping may still be arriving: wait rather than discard its start.
            if !buf.is_empty() && b"\r\n\r\n".starts_with(buf) {
                return Ok(HeadProgress::Incomplete);
            }
            // RFC 3261 §7.5: stray line ends before a start line are ignored.
            let skip = leading_line_ends(buf);
            buf.advance(skip);
            if buf.is_empty() {
                return Ok(HeadProgress::Incomplete);
            }
        }
        let from = searched.saturating_sub(TERMINATOR_OVERLAP);
        let Some(end) = find_head_end(&buf[from..]).map(|end| end.shifted(from)) else {
            if buf.len() > self.limits.max_message_size {
                return Err(ParseError::TooLarge {
                    size: buf.len(),
                    limit: self.limits.max_message_size,
                });
            }
            self.progress = Progress::Head {
                searched: buf.len(),
            };
            return Ok(HeadProgress::Incomplete);
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
        Ok(HeadProgress::Complete { end, total })
    }
}

/// What reading the head at the front of the buffer gave.
enum HeadProgress {
    KeepAlive,
    Incomplete,
    Complete { end: HeadEnd, total: usize },
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

    fn frames(framer: &mut StreamFramer, buf: &mut BytesMut) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Ok(Some(frame)) = framer.next_frame(buf) {
            out.push(frame);
        }
        out
    }

    #[test]
    fn split_at_every_byte() {
        let mut framer = StreamFramer::default();
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
        let mut framer = StreamFramer::default();
        let mut buf = BytesMut::new();
        buf.extend_from_slice(MSG);
        buf.extend_from_slice(b"\r\n\r\n");
        buf.extend_from_slice(MSG);
        let got = frames(&mut framer, &mut buf);
        assert_eq!(got.len(), 3);
        assert!(matches!(got[1], Frame::KeepAlive));
    }

    /// Every message of `stream`, framed from reads of `size` bytes.
    fn frame_in_reads(stream: &[u8], size: usize) -> Vec<Vec<u8>> {
        let mut framer = StreamFramer::default();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in stream.chunks(size) {
            buf.extend_from_slice(chunk);
            while let Some(frame) = framer.next_frame(&mut buf).expect("frames") {
                if let Frame::Message(message) = frame {
                    out.push(message.as_bytes().to_vec());
                }
            }
        }
        assert!(buf.is_empty(), "left over: {buf:?}");
        out
    }

    /// The framer resumes where the last read stopped: whatever the read
    /// sizes, it finds the same messages as in one read, with terminators,
    /// keep-alives and bodies split anywhere.
    #[test]
    fn resumed_framing_matches_one_read() {
        let mut stream = Vec::new();
        stream.extend_from_slice(MSG);
        stream.extend_from_slice(b"\r\n\r\n");
        stream.extend_from_slice(b"OPTIONS sip:a@b SIP/2.0\nl: 0\n\n");
        stream.extend_from_slice(b"\r\n");
        stream.extend_from_slice(b"INFO sip:a@b SIP/2.0\r\nl: 8\r\n\r\n\r\n\r\n\n\nab");
        stream.extend_from_slice(MSG);
        let whole = frame_in_reads(&stream, stream.len());
        assert_eq!(whole.len(), 4);
        assert_eq!(
            whole[2],
            b"INFO sip:a@b SIP/2.0\r\nl: 8\r\n\r\n\r\n\r\n\n\nab"
        );
        for size in 1..=stream.len() {
            assert_eq!(frame_in_reads(&stream, size), whole, "reads of {size}");
        }
    }

    /// A head trickling in is searched once, not once per read.
    #[test]
    fn a_trickling_head_is_searched_from_where_the_last_read_stopped() {
        let mut framer = StreamFramer::default();
        let mut buf = BytesMut::from(&b"OPTIONS sip:a@b SIP/2.0\r\nX: 1\r"[..]);
        assert!(framer.next_frame(&mut buf).expect("no error").is_none());
        assert!(matches!(framer.progress, Progress::Head { searched: 30 }));
        buf.extend_from_slice(b"\nl: 0\r\n\r");
        assert!(framer.next_frame(&mut buf).expect("no error").is_none());
        assert!(matches!(framer.progress, Progress::Head { searched: 38 }));
        buf.extend_from_slice(b"\n");
        assert!(matches!(
            framer.next_frame(&mut buf),
            Ok(Some(Frame::Message(_)))
        ));
        assert!(buf.is_empty());
        assert!(matches!(framer.progress, Progress::Head { searched: 0 }));
    }

    /// Found by the `stream` fuzz target: a head over the limit read at
    /// once failed on its Content-Length (and got a 400), read in pieces it
    /// failed as too large (and the connection was closed).
    #[test]
    fn an_oversize_head_is_too_large_in_one_read_or_many() {
        let mut framer = StreamFramer::new(Limits {
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
        let mut framer = StreamFramer::new(Limits {
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
