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
            // Two to four characters that form one valid UTF-8 sequence are almost never
            // written on purpose; strict decoding is the signal.
            text.chars().next().map(|c| (c, length))
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
    let flush = |run: &mut Vec<char>, out: &mut String, total: &mut usize| {
        if run.is_empty() {
            return;
        }
        let (cp1252, n1) = repair_run(run, Codepage::Windows1252);
        let (mac, n2) = repair_run(run, Codepage::MacRoman);
        if n1 == 0 && n2 == 0 {
            out.extend(run.iter());
        } else if n1 >= n2 {
            out.push_str(&cp1252);
            *total += n1;
        } else {
            out.push_str(&mac);
            *total += n2;
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii() {
            flush(&mut run, &mut out, &mut total);
            out.push(c);
        } else {
            run.push(c);
        }
    }
    flush(&mut run, &mut out, &mut total);
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
}
