//! The stream framer (TCP, TLS) fed arbitrary bytes in an arbitrary
//! chunking, as reads deliver them, on a growing `BytesMut`.
//!
//! Input: byte 0 = `k | limits << 4`: `k` (0-15) chunk sizes follow, each
//! `byte + 1`, used in turn (k = 0: one chunk per byte); bit 4 selects small
//! limits (512 bytes, 8 headers) instead of the defaults. The rest is the
//! stream. A chunking yields a frame per call at most and "need more" is
//! `Ok(None)`, so it is framed after every chunk until it needs more or
//! fails (the transport then closes the connection).
//!
//! Differential check: the messages framed, and whether and how framing
//! failed, are the same as when the whole stream arrives in one read.
//! (Keep-alives may differ: a CRLFCRLF that arrives right after stray line
//! ends is a ping when read alone and skipped when read together.)

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sip_autoresponder::sip::{Frame, Limits, ParseError, Request, StreamFramer};

/// Bounds the work per input: a chunk is at least `len / MAX_CHUNKS` bytes.
const MAX_CHUNKS: usize = 2048;

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The messages framed, byte for byte.
    Frames(Vec<Vec<u8>>),
    /// ... and then the error that closed the stream.
    Failed(Vec<Vec<u8>>, std::mem::Discriminant<ParseError>),
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let count = usize::from(control & 0x0f).min(rest.len());
    let (sizes, stream) = rest.split_at(count);
    let limits = if control & 0x10 != 0 {
        Limits {
            max_message_size: 512,
            max_headers: 8,
        }
    } else {
        Limits::default()
    };
    let floor = stream.len() / MAX_CHUNKS;
    let sizes: Vec<usize> = if sizes.is_empty() {
        vec![1]
    } else {
        sizes.iter().map(|s| usize::from(*s) + 1).collect()
    };
    let mut chunk_sizes = sizes.iter().cycle().map(|s| (*s).max(floor));

    // A fresh framer per reading: a framer belongs to one connection.
    let chunked = {
        let mut framer = StreamFramer::new(limits);
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        let mut failed = None;
        let mut offset = 0;
        'feed: while offset < stream.len() {
            let size = chunk_sizes.next().unwrap_or(1);
            let end = stream.len().min(offset + size);
            buf.extend_from_slice(&stream[offset..end]);
            offset = end;
            loop {
                match framer.next_frame(&mut buf) {
                    Ok(Some(frame)) => record(frame, &mut frames),
                    Ok(None) => break,
                    Err(error) => {
                        let _ = framer.head_of(&buf);
                        failed = Some(std::mem::discriminant(&error));
                        break 'feed;
                    }
                }
            }
        }
        match failed {
            Some(error) => Outcome::Failed(frames, error),
            None => Outcome::Frames(frames),
        }
    };

    let whole = {
        let mut framer = StreamFramer::new(limits);
        let mut buf = BytesMut::from(stream);
        let mut frames = Vec::new();
        loop {
            match framer.next_frame(&mut buf) {
                Ok(Some(frame)) => record(frame, &mut frames),
                Ok(None) => break Outcome::Frames(frames),
                Err(error) => break Outcome::Failed(frames, std::mem::discriminant(&error)),
            }
        }
    };

    assert_eq!(
        chunked, whole,
        "chunked framing differs from framing the whole stream"
    );
});

/// Keeps a message's bytes (and validates it, as the transport does).
fn record(frame: Frame, frames: &mut Vec<Vec<u8>>) {
    match frame {
        Frame::KeepAlive => {}
        Frame::Message(message) => {
            frames.push(message.as_bytes().to_vec());
            if message.is_request() {
                let _ = Request::validate(message);
            }
        }
    }
}
