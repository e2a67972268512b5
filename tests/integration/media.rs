//! Media for answered calls over real UDP sockets: the answer names a port
//! of `[media] port_range`, what the test sends comes back echoed with the
//! daemon's own SSRC, sequence and timestamps; tones and files arrive at the
//! ptime and decode to what they should; RFC 4733 and INFO digits are
//! logged, journaled and counted; RTCP flows; the media timeout ends calls;
//! ports run out with 503 and come back whenever a dialog ends. The test's
//! RTP, RTCP, µ-law and WAV handling is its own (`rtp.rs`), not the
//! crate's.

mod calls;
mod dtmf;
mod echo;
mod generated;
mod lifetimes;
mod rtcp;
mod rtp;
