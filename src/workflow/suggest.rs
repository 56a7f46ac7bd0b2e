//! "Did you mean `retry`?": the closest known name to a misspelt one, by
//! edit distance with adjacent transpositions (`retires` is one step away).

/// Optimal string alignment distance: insertions, deletions, substitutions
/// and swaps of two neighbouring characters each cost one.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows are enough: a transposition looks two rows back.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            cur[j] = best;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The known name closest to `unknown`, if it is close enough to be a typo:
/// a third of the name's length away (at least one edit), or half of it when
/// both start with the same three letters (`retires` for `retry`); ties go
/// to the first candidate.
pub fn closest<'a, I>(unknown: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lowered = unknown.to_lowercase();
    let len = unknown.chars().count();
    let close = (len / 3).max(1);
    let related = len / 2;
    candidates
        .into_iter()
        .map(|c| (edit_distance(&lowered, &c.to_lowercase()), c))
        .filter(|(d, c)| {
            let shared = lowered
                .chars()
                .zip(c.to_lowercase().chars())
                .take_while(|(a, b)| a == b)
                .count();
            *d < c.chars().count() && (*d <= close || (shared >= 3 && *d <= related))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `did you mean `retry`?` as a hint, when a candidate is close.
pub fn did_you_mean<'a, I>(unknown: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    closest(unknown, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// `a`, `b` and `c` as one backquoted list, for hints.
pub fn list<'a, I>(names: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    let names: Vec<String> = names.into_iter().map(|n| format!("`{n}`")).collect();
    match names.as_slice() {
        [] => "none".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_each_kind_of_edit_once() {
        assert_eq!(edit_distance("retry", "retry"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("retires", "retries"), 1);
        assert_eq!(edit_distance("retry", "retyr"), 1);
        assert_eq!(edit_distance("servce", "service"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggests_the_closest_field() {
        let fields = ["id", "service", "method", "retry", "timeout", "compensate"];
        assert_eq!(closest("retires", fields), Some("retry"));
        assert_eq!(closest("retyr", fields), Some("retry"));
        assert_eq!(closest("servise", fields), Some("service"));
        assert_eq!(closest("Method", fields), Some("method"));
        assert_eq!(closest("compensation", fields), Some("compensate"));
        assert_eq!(closest("banana", fields), None);
        assert_eq!(closest("SEND", ["GET", "HEAD", "POST"]), None);
        assert_eq!(closest("x", fields), None);
    }

    #[test]
    fn hint_and_list_wording() {
        assert_eq!(
            did_you_mean("timout", ["timeout"]).as_deref(),
            Some("did you mean `timeout`?")
        );
        assert_eq!(list(["a"]), "`a`");
        assert_eq!(list(["a", "b", "c"]), "`a`, `b` and `c`");
        assert_eq!(list([]), "none");
    }
}
