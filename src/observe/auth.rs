//! What the journal keeps of a request's credentials: who they named, the
//! realm and the verdict, each cut short; never the credentials themselves
//! (`Authorization` values are masked where header fields are copied).

use serde::Serialize;

/// Longest user name or realm kept, bytes (a peer names the user).
pub const AUTH_VALUE_LIMIT: usize = 128;
/// What an [`AuthRecord`] may add to its record's size.
pub(super) const AUTH_ALLOWANCE: usize = 2 * AUTH_VALUE_LIMIT + 64;

/// Who a journalled request authenticated as, or why it did not.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuthRecord {
    /// The username the credentials named, if any.
    pub user: Option<String>,
    pub realm: String,
    /// `valid`, or why not: `absent`, `wrong_password`, `unknown_user`,
    /// `malformed`, `replayed_nonce`, `stale_nonce`, `not_owner`.
    pub result: &'static str,
}

impl AuthRecord {
    /// The record of a verdict, its values cut at [`AUTH_VALUE_LIMIT`].
    pub fn new(user: Option<&str>, realm: &str, result: &'static str) -> Self {
        Self {
            user: user.map(cut),
            realm: cut(realm),
            result,
        }
    }
}

/// `value` up to [`AUTH_VALUE_LIMIT`] bytes, control characters left out.
fn cut(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > AUTH_VALUE_LIMIT {
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_user_name_is_cut_on_a_char_boundary() {
        let long = format!("{}é\r\n", "u".repeat(AUTH_VALUE_LIMIT - 1));
        let record = AuthRecord::new(Some(&long), "lab", "unknown_user");
        let user = record.user.expect("user");
        assert_eq!(user, "u".repeat(AUTH_VALUE_LIMIT - 1));
        assert_eq!(record.realm, "lab");
    }
}
