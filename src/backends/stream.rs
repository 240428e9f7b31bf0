//! Turning a token stream into text pieces: incremental UTF-8 decoding (a character can span
//! tokens) and stop strings (held back until they can no longer start a stop). Pure.

/// Accumulates bytes and yields the longest valid UTF-8 prefix.
#[derive(Debug, Default)]
pub struct Utf8Decoder {
    pending: Vec<u8>,
}

impl Utf8Decoder {
    /// Adds bytes; returns the text that is complete so far.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(text) => {
                    out.push_str(text);
                    self.pending.clear();
                    return out;
                }
                Err(err) => {
                    let valid = err.valid_up_to();
                    out.push_str(
                        std::str::from_utf8(&self.pending[..valid]).expect("checked prefix"),
                    );
                    match err.error_len() {
                        // Incomplete sequence at the end: wait for more bytes.
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                        // Invalid bytes: replace them and go on.
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    /// Whatever is left at the end of the stream.
    pub fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }
}

/// Tracks generated text and stop strings; decides what may be shown yet.
#[derive(Debug)]
pub struct StopScanner {
    text: String,
    emitted: usize,
    stops: Vec<String>,
}

impl StopScanner {
    pub fn new(stops: &[String]) -> Self {
        StopScanner {
            text: String::new(),
            emitted: 0,
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
        }
    }

    /// Adds `piece`; returns (text safe to show now, whether a stop string was reached).
    pub fn push(&mut self, piece: &str) -> (String, bool) {
        let search_from =
            floor_boundary(&self.text, self.emitted.saturating_sub(self.longest_stop()));
        self.text.push_str(piece);
        let hit = self
            .stops
            .iter()
            .filter_map(|stop| {
                self.text[search_from..]
                    .find(stop.as_str())
                    .map(|at| search_from + at)
            })
            .min();
        if let Some(at) = hit {
            self.text.truncate(at);
            let shown = self.text[self.emitted.min(at)..].to_string();
            self.emitted = self.text.len();
            return (shown, true);
        }
        let held = self.held_back();
        let safe_end = floor_boundary(&self.text, self.text.len() - held);
        let shown = if safe_end > self.emitted {
            self.text[self.emitted..safe_end].to_string()
        } else {
            String::new()
        };
        self.emitted = self.emitted.max(safe_end);
        (shown, false)
    }

    /// The text not yet shown, at the end of generation.
    pub fn finish(&mut self) -> String {
        let rest = self.text[self.emitted..].to_string();
        self.emitted = self.text.len();
        rest
    }

    /// All text kept (stop string excluded).
    pub fn text(&self) -> &str {
        &self.text
    }

    fn longest_stop(&self) -> usize {
        self.stops.iter().map(String::len).max().unwrap_or(0)
    }

    /// Length of the longest suffix of the text that is a proper prefix of some stop string.
    fn held_back(&self) -> usize {
        let mut best = 0;
        for stop in &self.stops {
            for len in (1..stop.len()).rev() {
                if len <= best {
                    break;
                }
                if stop.is_char_boundary(len) && self.text.ends_with(&stop[..len]) {
                    best = len;
                    break;
                }
            }
        }
        best
    }
}

fn floor_boundary(text: &str, mut index: usize) -> usize {
    index = index.min(text.len());
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_stops(pieces: &[&str], stops: &[&str], expected_shown: &[&str], expected_stop: bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut scanner = StopScanner::new(&stops);
        let mut shown = Vec::new();
        let mut stopped = false;
        for piece in pieces {
            let (text, hit) = scanner.push(piece);
            shown.push(text);
            if hit {
                stopped = true;
                break;
            }
        }
        if !stopped {
            shown.push(scanner.finish());
        }
        let shown: Vec<&str> = shown
            .iter()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .collect();
        assert_eq!(shown, expected_shown);
        assert_eq!(stopped, expected_stop);
    }

    #[test]
    fn stop_string_split_across_pieces_is_never_shown() {
        check_stops(
            &["Hello", " wor", "ld\n\nUs", "er:"],
            &["\n\nUser:"],
            &["Hello", " wor", "ld"],
            true,
        );
    }

    #[test]
    fn partial_match_that_diverges_is_released() {
        check_stops(&["a\n", "\nb"], &["\n\nUser:"], &["a", "\n\nb"], false);
    }

    #[test]
    fn no_stops_streams_everything() {
        check_stops(&["é", "t", "é"], &[], &["é", "t", "é"], false);
    }

    #[test]
    fn utf8_split_across_tokens_is_joined() {
        let mut decoder = Utf8Decoder::default();
        let bytes = "€".as_bytes();
        assert_eq!(decoder.push(&bytes[..1]), "");
        assert_eq!(decoder.push(&bytes[1..]), "€");
        assert_eq!(decoder.push(&[0xff, b'a']), "\u{fffd}a");
        assert_eq!(decoder.push(&bytes[..2]), "");
        assert_eq!(decoder.finish(), "\u{fffd}");
    }
}
