//! Who may authenticate: HA1 values by realm, user and algorithm, made once
//! at load from `[auth] users` (passwords, valid in every realm the config
//! names) and `users_file` (one `user:realm:HA1` per line, as htdigest and
//! Kamailio's auth_db keep them), so a request costs one lookup.

use std::collections::HashMap;

use thiserror::Error;

use super::digest::{ALGORITHMS, Algorithm};

/// A line of a users file that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}, column {column}: {message}")]
pub struct UsersFileError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// One HA1 of a users file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub user: String,
    pub realm: String,
    pub algorithm: Algorithm,
    /// Lowercase hex.
    pub ha1: String,
}

/// One user's HA1, a slot per algorithm (in [`ALGORITHMS`]' order).
type Ha1s = [Option<Box<str>>; 3];

/// HA1 by realm, then user.
#[derive(Debug, Default, Clone)]
pub struct Users {
    realms: HashMap<Box<str>, HashMap<Box<str>, Ha1s>>,
    count: usize,
}

impl Users {
    /// The table for `realms` from passwords (each valid in every realm)
    /// and file entries (each in its own realm).
    pub fn build<'a>(
        realms: impl IntoIterator<Item = &'a str>,
        passwords: &[(String, String)],
        entries: &[FileEntry],
    ) -> Self {
        let mut users = Self::default();
        for realm in realms {
            for (user, password) in passwords {
                for algorithm in ALGORITHMS {
                    let ha1 = algorithm.ha1(user, realm, password);
                    users.insert(realm, user, algorithm, ha1);
                }
            }
        }
        for entry in entries {
            users.insert(
                &entry.realm,
                &entry.user,
                entry.algorithm,
                entry.ha1.clone(),
            );
        }
        users
    }

    fn insert(&mut self, realm: &str, user: &str, algorithm: Algorithm, ha1: String) {
        let slots = self
            .realms
            .entry(realm.into())
            .or_default()
            .entry(user.into())
            .or_insert_with(|| {
                self.count += 1;
                Default::default()
            });
        slots[slot(algorithm)] = Some(ha1.into());
    }

    /// The HA1 of `user` in `realm` for `algorithm`.
    pub fn ha1(&self, realm: &str, user: &str, algorithm: Algorithm) -> Option<&str> {
        self.realms.get(realm)?.get(user)?[slot(algorithm)].as_deref()
    }

    /// Users over all realms (a user in two realms counts twice).
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

fn slot(algorithm: Algorithm) -> usize {
    ALGORITHMS
        .iter()
        .position(|a| *a == algorithm)
        .unwrap_or_default()
}

/// Parses a users file: `user:realm:HA1` (32 hex digits: MD5, 64: SHA-256)
/// or `user:realm:ALGORITHM:HA1` per line; blank lines and `#` comments
/// are skipped. Every bad line is reported.
pub fn parse_users_file(text: &str) -> Result<Vec<FileEntry>, Vec<UsersFileError>> {
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        match parse_line(line) {
            Ok(entry) => entries.push(entry),
            Err((column, message)) => errors.push(UsersFileError {
                line: index + 1,
                column,
                message,
            }),
        }
    }
    if errors.is_empty() {
        Ok(entries)
    } else {
        Err(errors)
    }
}

fn parse_line(line: &str) -> Result<FileEntry, (usize, String)> {
    let fields: Vec<&str> = line.split(':').collect();
    let column_of = |n: usize| 1 + fields[..n].iter().map(|f| f.len() + 1).sum::<usize>();
    let (user, realm, algorithm, ha1, ha1_at) = match fields.as_slice() {
        [user, realm, ha1] => {
            let algorithm = match ha1.len() {
                32 => Algorithm::Md5,
                64 => Algorithm::Sha256,
                n => {
                    return Err((
                        column_of(2),
                        format!(
                            "HA1 of {n} characters: expected 32 (MD5) or 64 hex digits (SHA-256; write user:realm:SHA-512-256:HA1 for that one)"
                        ),
                    ));
                }
            };
            (*user, *realm, algorithm, *ha1, 2)
        }
        [user, realm, name, ha1] => {
            let algorithm = Algorithm::parse(name).ok_or_else(|| {
                (
                    column_of(2),
                    format!("unknown algorithm `{name}` (MD5, SHA-256, SHA-512-256)"),
                )
            })?;
            (*user, *realm, algorithm, *ha1, 3)
        }
        _ => {
            return Err((
                1,
                "expected user:realm:HA1 (or user:realm:ALGORITHM:HA1)".to_owned(),
            ));
        }
    };
    if user.is_empty() {
        return Err((1, "empty user name".to_owned()));
    }
    if ha1.len() != algorithm.hex_len() || !ha1.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err((
            column_of(ha1_at),
            format!(
                "HA1 must be {} hex digits for {}",
                algorithm.hex_len(),
                algorithm.name()
            ),
        ));
    }
    Ok(FileEntry {
        user: user.to_owned(),
        realm: realm.to_owned(),
        algorithm,
        ha1: ha1.to_ascii_lowercase(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hold_in_every_realm_and_file_lines_in_theirs() {
        let md5 = Algorithm::Md5.ha1("bob", "pbx", "pw");
        let file = format!(
            "# users\n\nbob:pbx:{md5}\ncarol:pbx:SHA-512-256:{}\n",
            "A".repeat(64)
        );
        let entries = parse_users_file(&file).expect("parses");
        let users = Users::build(
            ["lab", "pbx"],
            &[("alice".to_owned(), "secret".to_owned())],
            &entries,
        );
        assert_eq!(
            users.ha1("lab", "alice", Algorithm::Sha256),
            Some(Algorithm::Sha256.ha1("alice", "lab", "secret").as_str())
        );
        assert!(users.ha1("pbx", "alice", Algorithm::Md5).is_some());
        assert_eq!(users.ha1("pbx", "bob", Algorithm::Md5), Some(md5.as_str()));
        assert_eq!(users.ha1("pbx", "bob", Algorithm::Sha256), None);
        assert_eq!(
            users.ha1("lab", "bob", Algorithm::Md5),
            None,
            "bob is in pbx only"
        );
        assert_eq!(
            users.ha1("pbx", "carol", Algorithm::Sha512_256),
            Some("a".repeat(64).as_str()),
            "lowercased"
        );
        assert_eq!(users.len(), 4);
    }

    #[test]
    fn every_bad_line_is_named_with_its_column() {
        let text =
            "ok:r:0123456789abcdef0123456789abcdef\nbad\nx:r:123\ny:r:SHA-1:00\nz:r:MD5:zz\n";
        let errors = parse_users_file(text).expect_err("bad lines");
        let at: Vec<(usize, usize)> = errors.iter().map(|e| (e.line, e.column)).collect();
        assert_eq!(at, [(2, 1), (3, 5), (4, 5), (5, 9)]);
        assert!(errors[2].message.contains("SHA-1"), "{}", errors[2]);
    }
}
