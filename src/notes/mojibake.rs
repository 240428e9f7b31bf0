//! Mojibake repair: UTF-8 text that was once decoded as Windows-1252 or Mac Roman and saved
//! again (`donâ€™t`, `‚úÖ`, `üß≠`). Works line by line and never adds or removes a line, so
//! citations by line number stay true. Pure.

/// Windows-1252 bytes 0x80..=0x9F (None: undefined, which decoders pass through as U+0080..U+009F).
const CP1252_HIGH: [Option<char>; 32] = [
    Some('€'),
    None,
    Some('‚'),
    Some('ƒ'),
    Some('„'),
    Some('…'),
    Some('†'),
    Some('‡'),
    Some('ˆ'),
    Some('‰'),
    Some('Š'),
    Some('‹'),
    Some('Œ'),
    None,
    Some('Ž'),
    None,
    None,
    Some('‘'),
    Some('’'),
    Some('“'),
    Some('”'),
    Some('•'),
    Some('–'),
    Some('—'),
    Some('˜'),
    Some('™'),
    Some('š'),
    Some('›'),
    Some('œ'),
    None,
    Some('ž'),
    Some('Ÿ'),
];

/// Mac Roman bytes 0x80..=0xFF.
const MAC_ROMAN_HIGH: [char; 128] = [
    'Ä', 'Å', 'Ç', 'É', 'Ñ', 'Ö', 'Ü', 'á', 'à', 'â', 'ä', 'ã', 'å', 'ç', 'é', 'è', 'ê', 'ë', 'í',
    'ì', 'î', 'ï', 'ñ', 'ó', 'ò', 'ô', 'ö', 'õ', 'ú', 'ù', 'û', 'ü', '†', '°', '¢', '£', '§', '•',
    '¶', 'ß', '®', '©', '™', '´', '¨', '≠', 'Æ', 'Ø', '∞', '±', '≤', '≥', '¥', 'µ', '∂', '∑', '∏',
    'π', '∫', 'ª', 'º', 'Ω', 'æ', 'ø', '¿', '¡', '¬', '√', 'ƒ', '≈', '∆', '«', '»', '…', '\u{a0}',
    'À', 'Ã', 'Õ', 'Œ', 'œ', '–', '—', '“', '”', '‘', '’', '÷', '◊', 'ÿ', 'Ÿ', '⁄', '€', '‹', '›',
    'ﬁ', 'ﬂ', '‡', '·', '‚', '„', '‰', 'Â', 'Ê', 'Á', 'Ë', 'È', 'Í', 'Î', 'Ï', 'Ì', 'Ó', 'Ô',
    '\u{f8ff}', 'Ò', 'Ú', 'Û', 'Ù', 'ı', 'ˆ', '˜', '¯', '˘', '˙', '˚', '¸', '˝', '˛', 'ˇ',
];

#[derive(Debug, Clone, Copy)]
enum Codepage {
    Windows1252,
    MacRoman,
}

impl Codepage {
    /// The byte this code page shows as `c`, if any (ASCII excluded: mojibake is never ASCII).
    fn byte_of(self, c: char) -> Option<u8> {
        match self {
            Codepage::Windows1252 => {
                if let Some(index) = CP1252_HIGH.iter().position(|&m| m == Some(c)) {
                    return Some(0x80 + index as u8);
                }
                let code = c as u32;
                let undefined = [0x81, 0x8d, 0x8f, 0x90, 0x9d];
                if (0xa0..=0xff).contains(&code) || undefined.contains(&code) {
                    Some(code as u8)
                } else {
                    None
                }
            }
            Codepage::MacRoman => MAC_ROMAN_HIGH
                .iter()
                .position(|&m| m == c)
                .map(|index| 0x80 + index as u8),
        }
    }

    /// The character this code page shows for a byte of 0x80 or above (the inverse of `byte_of`).
    fn char_of(self, byte: u8) -> Option<char> {
        if byte < 0x80 {
            return None;
        }
        match self {
            Codepage::Windows1252 if byte < 0xa0 => {
                Some(CP1252_HIGH[usize::from(byte - 0x80)].unwrap_or(char::from(byte)))
            }
            Codepage::Windows1252 => Some(char::from(byte)),
            Codepage::MacRoman => Some(MAC_ROMAN_HIGH[usize::from(byte - 0x80)]),
        }
    }
}

/// Whether `c` is a character that mojibake is made of: shown by either code page for a byte
/// of 0x80 or above.
fn mojibake_alphabet(c: char) -> bool {
    !c.is_ascii()
        && (Codepage::Windows1252.byte_of(c).is_some() || Codepage::MacRoman.byte_of(c).is_some())
}

/// Punctuation that sits against letters in ordinary text: dashes, quotes, ellipses, bullets.
fn joins_words(c: char) -> bool {
    matches!(
        c,
        '–' | '—'
            | '‘'
            | '’'
            | '‚'
            | '“'
            | '”'
            | '„'
            | '«'
            | '»'
            | '‹'
            | '›'
            | '…'
            | '•'
            | '·'
            | '¡'
            | '¿'
            | '\u{a0}'
    )
}

/// Combining marks (accents that sit on the previous character).
fn is_combining(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036f | 0x0483..=0x0489 | 0x0591..=0x05c7 | 0x0610..=0x061a
        | 0x064b..=0x065f | 0x0670 | 0x06d6..=0x06ed | 0x0711 | 0x0730..=0x074a
        | 0x07a6..=0x07b0 | 0x07eb..=0x07f3 | 0x1ab0..=0x1aff | 0x1dc0..=0x1dff
        | 0x20d0..=0x20ff | 0xfe20..=0xfe2f)
}

/// A coarse script for letters two-byte UTF-8 can hold: Latin (0), or the block's start.
fn script(c: char) -> Option<u32> {
    if !c.is_alphabetic() {
        return None;
    }
    Some(match c as u32 {
        0..=0x024f | 0x1e00..=0x1eff => 0,
        0x0370..=0x03ff | 0x1f00..=0x1fff => 0x0370,
        0x0400..=0x052f => 0x0400,
        0x0530..=0x058f => 0x0530,
        0x0590..=0x05ff => 0x0590,
        0x0600..=0x06ff | 0x0750..=0x077f => 0x0600,
        0x0700..=0x074f => 0x0700,
        0x0780..=0x07bf => 0x0780,
        0x07c0..=0x07ff => 0x07c0,
        code => code & !0xff,
    })
}

/// How many sequences in `chars` look like mojibake or like a bad repair: characters of the
/// mojibake alphabet glued together other than as ordinary text would (`â€`, `Ã©`, `úÖ`),
/// C1 controls and private-use characters, a combining mark on no letter, and a letter of a
/// script other than Latin standing alone among letters of another (`AЅ`).
fn suspicious(chars: &[char]) -> usize {
    let mut count = 0;
    for (i, &c) in chars.iter().enumerate() {
        let previous = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1).copied();
        if matches!(c as u32, 0x80..=0x9f | 0xe000..=0xf8ff) {
            count += 1;
        }
        if is_combining(c) && !previous.is_some_and(char::is_alphabetic) {
            count += 1;
        }
        if let Some(own) = script(c).filter(|&s| s != 0) {
            let same = |n: Option<char>| n.and_then(script) == Some(own);
            let foreign = |n: Option<char>| n.and_then(script).is_some_and(|s| s != own);
            if !same(previous) && !same(next) && (foreign(previous) || foreign(next)) {
                count += 1;
            }
        }
        if let Some(p) = previous.filter(|&p| mojibake_alphabet(p) && mojibake_alphabet(c)) {
            let odd = match (p.is_alphabetic(), c.is_alphabetic()) {
                // `úÖ`, `Äî`: case changes inside a word (`öß`, `ÄÄ` are words).
                (true, true) => p.is_lowercase() != c.is_lowercase(),
                // `A–Ö`, `«Α»`, `¿Qué`: letters beside dashes and quotes are ordinary text,
                // except after `Ã` and `Â`, the lead characters of most mojibake (`Ã–`).
                (true, false) if joins_words(c) => matches!(p, 'Ã' | 'Â'),
                (false, true) if joins_words(p) => false,
                (false, false) if joins_words(p) && joins_words(c) => false,
                // A letter glued to a symbol, or symbols glued together: `â€`, `Ã©`, `ß≠`.
                _ => true,
            };
            if odd {
                count += 1;
            }
        }
    }
    count
}

fn utf8_length(lead: u8) -> usize {
    match lead {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => 0,
    }
}

/// Repairs one run of non-ASCII characters with one code page; returns the text and the
/// number of characters repaired.
fn repair_run(run: &[char], codepage: Codepage) -> (String, usize) {
    let mut out = String::new();
    let mut repaired = 0;
    let mut i = 0;
    while i < run.len() {
        let decoded = codepage.byte_of(run[i]).and_then(|lead| {
            let length = utf8_length(lead);
            if length == 0 || i + length > run.len() {
                return None;
            }
            let bytes: Option<Vec<u8>> = run[i..i + length]
                .iter()
                .map(|&c| codepage.byte_of(c))
                .collect();
            let bytes = bytes?;
            let text = std::str::from_utf8(&bytes).ok()?;
            let mut decoded = text.chars();
            let c = decoded.next().filter(|_| decoded.next().is_none())?;
            // The round trip must be exact: the character's UTF-8 bytes, shown in this code
            // page, are the very characters replaced.
            let mut utf8 = [0u8; 4];
            let exact = c
                .encode_utf8(&mut utf8)
                .bytes()
                .map(|b| codepage.char_of(b))
                .eq(run[i..i + length].iter().map(|&m| Some(m)));
            exact.then_some((c, length))
        });
        match decoded {
            Some((c, length)) => {
                out.push(c);
                repaired += 1;
                i += length;
            }
            None => {
                out.push(run[i]);
                i += 1;
            }
        }
    }
    (out, repaired)
}

/// Repairs every line of `text`; returns the repaired text and how many characters were fixed.
/// The number of lines never changes.
pub fn repair(text: &str) -> (String, usize) {
    if text.is_ascii() {
        return (text.to_string(), 0);
    }
    let mut out = String::with_capacity(text.len());
    let mut total = 0;
    let mut run: Vec<char> = Vec::new();
    // A run is repaired only when the repair reads better than the text as it is: fewer
    // suspicious sequences, counted with the characters on either side of the run. Correct
    // text (`(A–Ö)`, `(Ö–A)`) decodes to something at least as odd (`(AЅ)`, a combining mark
    // on a parenthesis) and is left alone.
    let flush = |run: &mut Vec<char>,
                 before: Option<char>,
                 after: Option<char>,
                 out: &mut String,
                 total: &mut usize| {
        if run.is_empty() {
            return;
        }
        let score = |middle: &[char]| {
            let mut chars: Vec<char> = before.into_iter().collect();
            chars.extend_from_slice(middle);
            chars.extend(after);
            suspicious(&chars)
        };
        let original = score(run);
        let best = [Codepage::Windows1252, Codepage::MacRoman]
            .into_iter()
            .map(|codepage| repair_run(run, codepage))
            .filter(|(_, n)| *n > 0)
            .map(|(text, n)| {
                let chars: Vec<char> = text.chars().collect();
                (score(&chars), std::cmp::Reverse(n), text, n)
            })
            .filter(|(badness, ..)| *badness < original)
            .min_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        match best {
            Some((_, _, text, n)) => {
                out.push_str(&text);
                *total += n;
            }
            None => out.extend(run.iter()),
        }
        run.clear();
    };
    let mut before: Option<char> = None;
    for c in text.chars() {
        if c.is_ascii() {
            flush(&mut run, before, Some(c), &mut out, &mut total);
            out.push(c);
            before = Some(c);
        } else {
            run.push(c);
        }
    }
    flush(&mut run, before, None, &mut out, &mut total);
    (out, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str, repaired: usize) {
        let (text, n) = repair(input);
        assert_eq!(text, expected);
        assert_eq!(n, repaired, "{input:?}");
        assert_eq!(text.lines().count(), input.lines().count());
    }

    #[test]
    fn repairs_windows_1252_and_mac_roman() {
        check(
            "donâ€™t and othersâ€™ learning",
            "don’t and others’ learning",
            2,
        );
        check("Done ‚úÖ", "Done ✅", 1);
        check("### \u{f8ff}üß≠ Performance", "### 🧭 Performance", 1);
        check("caf\u{c3}\u{a9} ok", "café ok", 1);
    }

    #[test]
    fn leaves_correct_text_alone() {
        check(
            "café, naïve, “quoted” — fine’s ✅ 🧭 Größe",
            "café, naïve, “quoted” — fine’s ✅ 🧭 Größe",
            0,
        );
        check("plain ascii\nlines\n", "plain ascii\nlines\n", 0);
        check("Ökonomie über alles", "Ökonomie über alles", 0);
    }

    #[test]
    fn correct_multilingual_text_is_never_repaired() {
        // Finnish (Obsidian's help vault): `–Ö` decodes as Mac Roman to `Ѕ`, `Ö–` as
        // Windows-1252 to a Hebrew accent; both are worse than the text as written.
        let finnish = "Oletus on \"Tiedostonimi (A–Ö)\" ja (Ö–A).";
        check(finnish, finnish, 0);
        check("A–Ö, Ö–A, Å–Ö", "A–Ö, Ö–A, Å–Ö", 0);
        check("¿Qué tal? ¡Año «nuevo»!", "¿Qué tal? ¡Año «nuevo»!", 0);
        check("Σημειώσεις – Ενότητα «Α»", "Σημειώσεις – Ενότητα «Α»", 0);
        check("Größe—Ökonomie Ö—A", "Größe—Ökonomie Ö—A", 0);
    }

    #[test]
    fn mojibake_next_to_correct_text_is_still_repaired() {
        check("Ã–sterreich", "Österreich", 1);
        check("naÃ¯ve — donâ€™t", "naïve — don’t", 2);
        check("‚ö†Ô∏è Warning", "⚠️ Warning", 2);
    }
}
