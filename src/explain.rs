//! Explaining which rule a message matches (filled in by the explain work).
