//! Personal data in free text: e-mail addresses, US social security numbers
//! and card numbers (Luhn-checked), found word by word and masked in place
//! so the text keeps its layout.

/// The kind of personal data a word is, if any.
pub fn classify(word: &str) -> Option<&'static str> {
    let word = trim(word);
    if let Some((user, domain)) = word.split_once('@') {
        if !user.is_empty() && domain.contains('.') && !domain.ends_with('.') {
            return Some("email");
        }
        return None;
    }
    let bytes = word.as_bytes();
    if bytes.len() == 11
        && bytes[3] == b'-'
        && bytes[6] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 3 || i == 6 || b.is_ascii_digit())
    {
        return Some("ssn");
    }
    let digits: Vec<u32> = word
        .chars()
        .filter(|c| *c != '-')
        .map(|c| c.to_digit(10))
        .collect::<Option<_>>()?;
    ((13..=19).contains(&digits.len()) && luhn(&digits)).then_some("card_number")
}

fn trim(word: &str) -> &str {
    word.trim_matches(|c: char| !c.is_alphanumeric())
}

fn luhn(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| match (i % 2, d * 2) {
            (1, doubled) if doubled > 9 => doubled - 9,
            (1, doubled) => doubled,
            _ => *d,
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Every kind found, each once, in order of first appearance.
pub fn kinds(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for kind in text.split_whitespace().filter_map(classify) {
        if !found.iter().any(|k| k == kind) {
            found.push(kind.to_owned());
        }
    }
    found
}

/// The text with each word of the given kinds (all kinds when empty)
/// replaced by `[REDACTED:kind]`, and how many were replaced.
pub fn redact(text: &str, only: &[String]) -> (String, u32) {
    let mut out = String::with_capacity(text.len());
    let mut count = 0;
    for piece in text.split_inclusive(char::is_whitespace) {
        let word = piece.trim_end();
        match classify(word).filter(|k| only.is_empty() || only.iter().any(|o| o == k)) {
            Some(kind) => {
                let core = trim(word);
                out.push_str(&piece.replacen(core, &format!("[REDACTED:{kind}]"), 1));
                count += 1;
            }
            None => out.push_str(piece),
        }
    }
    (out, count)
}
