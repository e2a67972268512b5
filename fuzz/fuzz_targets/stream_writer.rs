//! The send side of a stream connection (`transport::connection`): a queue
//! bounded in bytes and the writer task that drains it with a write
//! timeout, driven by an arbitrary script against an in-memory peer that
//! reads when the script says, on tokio's paused clock.
//!
//! Input: byte 0 picks the bounds (queue limit `64 << (b & 7)` bytes, write
//! timeout `10 ms * (1 + (b >> 3 & 7))`, pipe capacity `16 << (b >> 6)`
//! bytes); then pairs of (op, argument) bytes: push a message of
//! `argument * 4 + 1` bytes, let the peer read up to `argument * 16 + 1`
//! bytes, advance the clock `argument` ms, or close.
//!
//! Checks: a push never waits, and fails at once once the connection is
//! closed or aborted; the bytes queued never pass the limit (one message
//! always fits an empty queue); the peer reads a prefix of the messages
//! accepted, in order, nothing else; an aborted writer ends without the
//! clock moving, a closed one within two write timeouts; once ended, the
//! peer sees the end of the stream.

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sip_autoresponder::transport::connection::{StreamWriter, WriterLimits, start_writer};
use tokio::io::AsyncReadExt;

/// Bounds the work per input.
const MAX_OPS: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&bounds, script)) = data.split_first() else {
        return;
    };
    let limits = WriterLimits {
        max_queued_bytes: 64 << (bounds & 7),
        write_timeout: Duration::from_millis(10 * (1 + u64::from((bounds >> 3) & 7))),
    };
    let pipe = 16 << (bounds >> 6);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    runtime.block_on(run(limits, pipe, script));
});

async fn run(limits: WriterLimits, pipe: usize, script: &[u8]) {
    let (ours, mut peer) = tokio::io::duplex(pipe);
    let (queue, writer) = start_writer(StreamWriter(ours), limits);
    let mut accepted: Vec<u8> = Vec::new();
    let mut read: Vec<u8> = Vec::new();
    let mut largest = 0;
    let mut sequence = 0u8;
    let mut closed = false;
    for pair in script.chunks_exact(2).take(MAX_OPS) {
        let (op, argument) = (pair[0] % 4, usize::from(pair[1]));
        match op {
            0 => {
                let len = argument * 4 + 1;
                sequence = sequence.wrapping_add(1);
                let message = vec![sequence; len];
                let before = queue.state();
                match queue.push(&message) {
                    Ok(()) => {
                        assert!(before.is_none(), "a closed queue took a message");
                        assert!(!closed, "pushed after close");
                        accepted.extend_from_slice(&message);
                        largest = largest.max(len);
                    }
                    Err(error) => {
                        assert_eq!(queue.state(), Some(error), "the error is the state");
                    }
                }
                assert!(
                    queue.queued_bytes() <= limits.max_queued_bytes.max(largest),
                    "queued {} past the limit {}",
                    queue.queued_bytes(),
                    limits.max_queued_bytes
                );
            }
            1 => {
                let mut buf = vec![0u8; argument * 16 + 1];
                tokio::select! {
                    biased;
                    got = peer.read(&mut buf) => {
                        if let Ok(n) = got {
                            read.extend_from_slice(&buf[..n]);
                        }
                    }
                    () = tokio::task::yield_now() => {}
                }
            }
            2 => tokio::time::advance(Duration::from_millis(argument as u64)).await,
            _ => {
                queue.close();
                closed = true;
            }
        }
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        assert!(
            accepted.starts_with(&read),
            "the peer read bytes that were not sent, or out of order"
        );
        if queue.is_aborted() {
            assert!(queue.state().is_some(), "an aborted queue takes nothing");
            assert!(writer.is_finished(), "an aborted writer ends at once");
        }
    }
    queue.close();
    assert_eq!(queue.push(b"late"), Err(queue.state().expect("closed")));
    tokio::time::advance(limits.write_timeout * 2 + Duration::from_millis(1)).await;
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
    assert!(writer.is_finished(), "closing took longer than two write timeouts");
    // What is left in the pipe, then the end of the stream.
    let mut rest = Vec::new();
    peer.read_to_end(&mut rest).await.expect("read the rest");
    read.extend_from_slice(&rest);
    assert!(accepted.starts_with(&read), "the peer read bytes that were not sent");
}
