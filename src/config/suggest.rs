//! "Did you mean …?": the known word nearest to a mistyped one, by edit
//! distance with transpositions (`dealy_ms` → `delay_ms`), ignoring case.

/// The candidate nearest to `word`, when it is close enough to be what was
/// meant: at most one edit for words up to 4 characters, two up to 8,
/// three beyond. Ties go to the first candidate.
pub(crate) fn nearest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    let limit = match word.chars().count() {
        0..=4 => 1,
        5..=8 => 2,
        _ => 3,
    };
    candidates
        .into_iter()
        .map(|candidate| (distance(&word, &candidate.to_ascii_lowercase()), candidate))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, candidate)| candidate)
}

/// ` (did you mean `x`?)` for a message, or nothing.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    nearest(word, candidates).map_or(String::new(), |c| format!("; did you mean `{c}`?"))
}

/// Optimal string alignment distance: insertions, deletions, substitutions
/// and swaps of neighbours each cost one.
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_the_key_meant() {
        let keys = ["status", "reason", "delay_ms", "extra_headers"];
        assert_eq!(nearest("dealy_ms", keys), Some("delay_ms"));
        assert_eq!(nearest("staus", keys), Some("status"));
        assert_eq!(
            nearest("user_agnet", ["user_agent", "udp_workers"]),
            Some("user_agent")
        );
        assert_eq!(nearest("inof", ["error", "warn", "info"]), Some("info"));
        assert_eq!(nearest("invite", ["INVITE", "BYE"]), Some("INVITE"));
        assert_eq!(nearest("INVTE", ["INVITE", "BYE"]), Some("INVITE"));
    }

    #[test]
    fn far_words_find_nothing() {
        assert_eq!(
            nearest("verbose", ["error", "warn", "info", "debug", "trace"]),
            None
        );
        assert_eq!(nearest("zzz", ["status"]), None);
        assert_eq!(did_you_mean("zzz", ["status"]), "");
        assert_eq!(
            did_you_mean("stats", ["status"]),
            "; did you mean `status`?"
        );
    }

    #[test]
    fn distance_counts_swaps_as_one() {
        assert_eq!(distance("ab", "ba"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
