//! Interop tests with third-party SIP stacks (filled in by the interop work).
