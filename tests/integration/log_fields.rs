//! Log fields are named one way everywhere: SIP attributes as `sip.method`,
//! `sip.call_id`, `sip.status`, `sip.cseq`, which journald stores as
//! SIP_METHOD, SIP_CALL_ID, … (`journalctl SIP_CALL_ID=…` finds every line
//! of a call, whichever layer logged it). This reads every tracing macro in
//! src/ and refuses a bare `method`, `call_id`, `status` or `cseq` field.

use std::path::Path;

const MACROS: [&str; 5] = ["info!(", "warn!(", "debug!(", "error!(", "trace!("];
const SIP_FIELDS: [&str; 4] = ["method", "call_id", "status", "cseq"];

#[test]
fn sip_fields_are_named_sip_dot_everywhere() {
    let mut offenders = Vec::new();
    visit(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
        &mut |path, text| {
            for body in macro_bodies(text) {
                let code = outside_strings(&body);
                for field in SIP_FIELDS {
                    if has_bare_field(&code, field) {
                        offenders.push(format!("{}: `{field}` in {}", path.display(), body.trim()));
                    }
                }
            }
        },
    );
    assert!(
        offenders.is_empty(),
        "name them sip.FIELD:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_checker_finds_bare_fields() {
    let text =
        "info!(call_id = x, sip.method = m, \"call_id = in text\");\nwarn!(%e, status, \"x\");";
    let bodies: Vec<String> = macro_bodies(text).map(|b| outside_strings(&b)).collect();
    assert!(has_bare_field(&bodies[0], "call_id"));
    assert!(!has_bare_field(&bodies[0], "method"));
    assert!(has_bare_field(&bodies[1], "status"));
}

fn visit(dir: &Path, each: &mut dyn FnMut(&Path, &str)) {
    for entry in std::fs::read_dir(dir).expect("src/").flatten() {
        let path = entry.path();
        if path.is_dir() {
            visit(&path, each);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("source file");
            each(&path, &text);
        }
    }
}

/// The text between the parentheses of each tracing macro call.
fn macro_bodies(text: &str) -> impl Iterator<Item = String> + '_ {
    let bytes = text.as_bytes();
    MACROS.iter().flat_map(move |name| {
        text.match_indices(name).filter_map(move |(at, _)| {
            let start = at + name.len();
            let (mut depth, mut in_string, mut escaped) = (1usize, false, false);
            for (i, &b) in bytes[start..].iter().enumerate() {
                match (in_string, b) {
                    (true, _) if escaped => escaped = false,
                    (true, b'\\') => escaped = true,
                    (true, b'"') | (false, b'"') => in_string = !in_string,
                    (false, b'(') => depth += 1,
                    (false, b')') => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(text[start..start + i].to_owned());
                        }
                    }
                    _ => {}
                }
            }
            None
        })
    })
}

/// The code of a macro body with string literals blanked.
fn outside_strings(body: &str) -> String {
    let (mut out, mut in_string, mut escaped) = (String::new(), false, false);
    for c in body.chars() {
        match (in_string, c) {
            (true, _) if escaped => escaped = false,
            (true, '\\') => escaped = true,
            (_, '"') => in_string = !in_string,
            (true, _) => {}
            (false, c) => out.push(c),
        }
    }
    out
}

/// `field = …` or the shorthand `field,` as a field of its own (not
/// `sip.field`, not part of a longer name or expression).
fn has_bare_field(code: &str, field: &str) -> bool {
    code.match_indices(field).any(|(at, _)| {
        let before = code[..at].trim_end();
        let after = code[at + field.len()..].trim_start();
        let starts_field = before.is_empty() || before.ends_with(',') || before.ends_with('(');
        let own_word = !code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '.');
        let is_field = (after.starts_with('=') && !after.starts_with("=="))
            || after.starts_with(',')
            || after.is_empty();
        starts_field && own_word && is_field
    })
}
