//! Transactions (RFC 3261 §17): the server side that holds what is copied
//! into every response of a request, the To-tag, and where responses go.

mod server;

pub use server::{ServerTransaction, new_tag};
