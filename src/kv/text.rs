//! Redis's rules for reading text, so the law answers exactly as Redis does: which strings
//! are integers ([`integer`], Redis's `string2ll`), and which keys a glob pattern matches
//! ([`glob_matches`], Redis's `stringmatchlen`).
//!
//! Both work on bytes. A key is UTF-8 text in the law, but a pattern's `?` and `[a-z]` see
//! bytes, as Redis's do: `?` matches one byte of a multi-byte character.

/// The integer `text` spells, by Redis's rule: an optional `-`, then decimal digits with no
/// leading zero (or the single digit `0`), within a signed 64-bit integer. No `+`, no
/// spaces, no `-0`, nothing after the digits. `None` for anything else: Redis answers
/// `value is not an integer or out of range` to it.
pub fn integer(text: &[u8]) -> Option<i64> {
    // Redis refuses 21 bytes or more before reading them (i64::MIN takes 20).
    if text.is_empty() || text.len() >= 21 {
        return None;
    }
    if text == b"0" {
        return Some(0);
    }
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        // -(2^63) is the one negative number without a positive twin.
        if v > i64::MAX as u64 + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// Whether `key` matches the glob `pattern`, as Redis's `KEYS` and `SCAN ... MATCH` decide:
///
/// - `*` matches any run of bytes (also none), `?` any one byte;
/// - `[abc]` one byte of the set, `[^abc]` one byte not in it, `[a-z]` a range (either way
///   round), `\` inside brackets takes the next byte literally; an unclosed `[` ends the set
///   at the end of the pattern;
/// - `\x` matches `x` literally; every other byte matches itself.
///
/// Like Redis, a pattern nested more than 1,000 `*` deep matches nothing, and once the rest
/// of a pattern failed to match from every position after a `*`, no earlier `*` is tried
/// with a longer match (it cannot help), so an abusive pattern costs little.
pub fn glob_matches(pattern: &[u8], key: &[u8]) -> bool {
    let mut give_up = false;
    matches_from(pattern, key, &mut give_up, 0)
}

fn matches_from(mut p: &[u8], mut s: &[u8], give_up: &mut bool, nesting: usize) -> bool {
    if nesting > 1000 {
        return false;
    }
    while !p.is_empty() && !s.is_empty() {
        match p[0] {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                while !s.is_empty() {
                    if matches_from(&p[1..], s, give_up, nesting + 1) {
                        return true;
                    }
                    if *give_up {
                        return false;
                    }
                    s = &s[1..];
                }
                *give_up = true;
                return false;
            }
            b'?' => s = &s[1..],
            b'[' => {
                p = &p[1..];
                let not = p.first() == Some(&b'^');
                if not {
                    p = &p[1..];
                }
                let c = s[0];
                let mut matched = false;
                loop {
                    match p {
                        [] => break, // unclosed: the set ends with the pattern
                        [b']', ..] => break,
                        [b'\\', x, ..] => {
                            matched |= *x == c;
                            p = &p[2..];
                        }
                        [a, b'-', b, ..] => {
                            let (lo, hi) = if a <= b { (*a, *b) } else { (*b, *a) };
                            matched |= (lo..=hi).contains(&c);
                            p = &p[3..];
                        }
                        [x, ..] => {
                            matched |= *x == c;
                            p = &p[1..];
                        }
                    }
                }
                if matched == not {
                    return false;
                }
                s = &s[1..];
                // `p` is at the closing `]` (skipped below) or at the end.
                if p.is_empty() {
                    return s.is_empty();
                }
            }
            b'\\' if p.len() >= 2 => {
                if p[1] != s[0] {
                    return false;
                }
                p = &p[1..];
                s = &s[1..];
            }
            x => {
                if x != s[0] {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
        if s.is_empty() {
            while p.first() == Some(&b'*') {
                p = &p[1..];
            }
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_read_as_redis_reads_them() {
        for (text, n) in [
            ("0", 0),
            ("7", 7),
            ("-7", -7),
            ("10", 10),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
        ] {
            assert_eq!(integer(text.as_bytes()), Some(n), "{text}");
        }
        for text in [
            "",
            "-",
            "+1",
            "01",
            "-0",
            "00",
            " 1",
            "1 ",
            "1.0",
            "1e3",
            "abc",
            "9223372036854775808",
            "-9223372036854775809",
            "99999999999999999999",
            "000000000000000000001",
            "٣",
        ] {
            assert_eq!(integer(text.as_bytes()), None, "{text:?}");
        }
    }

    #[test]
    fn glob_patterns_match_as_in_redis() {
        let yes = |p: &str, k: &str| assert!(glob_matches(p.as_bytes(), k.as_bytes()), "{p} {k}");
        let no = |p: &str, k: &str| assert!(!glob_matches(p.as_bytes(), k.as_bytes()), "{p} {k}");
        // As Redis's matcher: `*` does not match the empty key (KEYS * and SCAN without MATCH
        // list every key without matching).
        no("*", "");
        yes("*", "anything");
        yes("h?llo", "hello");
        yes("h?llo", "hallo");
        no("h?llo", "hllo");
        yes("h*llo", "hllo");
        yes("h*llo", "heeeello");
        yes("h[ae]llo", "hello");
        yes("h[ae]llo", "hallo");
        no("h[ae]llo", "hillo");
        yes("h[^e]llo", "hallo");
        no("h[^e]llo", "hello");
        yes("h[a-b]llo", "hbllo");
        yes("h[b-a]llo", "hallo");
        no("h[a-b]llo", "hcllo");
        yes("user:*", "user:1");
        no("user:*", "users");
        yes("a\\*b", "a*b");
        no("a\\*b", "axb");
        yes("a[\\]]b", "a]b");
        yes("a[\\-]b", "a-b");
        no("a[\\-]b", "a\\b");
        // An unclosed bracket: the set runs to the end of the pattern.
        yes("a[bc", "ab");
        yes("a[bc", "ac");
        no("a[bc", "abc");
        // A trailing backslash matches itself.
        yes("a\\", "a\\");
        yes("**a**", "xxaxx");
        no("*a", "");
        yes("", "");
        no("", "a");
        yes("a*", "a");
        yes("*[0-9]", "key9");
        // Bytes, not characters: `?` is one byte of the two in "é".
        yes("??", "é");
        no("?", "é");
    }

    #[test]
    fn abusive_patterns_end() {
        // Without the early stop this search would outlast the universe.
        let pattern = "a*".repeat(40) + "b";
        assert!(!glob_matches(
            pattern.as_bytes(),
            "a".repeat(200).as_bytes()
        ));
        // Nested deeper than 1,000 stars: no match, as in Redis.
        let deep = "*a".repeat(2000);
        assert!(!glob_matches(deep.as_bytes(), "a".repeat(3000).as_bytes()));
    }
}
