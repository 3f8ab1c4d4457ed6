use std::sync::Arc;

/// A position in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub column: u32,
    /// Byte offset from the start of the file.
    pub offset: usize,
}

/// A range of a source file, start inclusive, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    /// First character.
    pub start: Position,
    /// One past the last character.
    pub end: Position,
}

impl Span {
    /// A span covering `start..end`.
    pub fn new(start: Position, end: Position) -> Self {
        Span { start, end }
    }

    /// A zero-width span at `position`.
    pub fn point(position: Position) -> Self {
        Span {
            start: position,
            end: position,
        }
    }
}

/// A file's name and text, shared by every diagnostic that points into it.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The name shown to the user.
    pub name: Arc<str>,
    /// The whole text.
    pub text: Arc<str>,
    line_starts: Arc<[usize]>,
    /// Character positions of a text that is not all ASCII; `None` when it is, since then a
    /// character column is a byte offset in its line.
    chars: Option<Arc<CharIndex>>,
}

/// How many characters apart the checkpoints of a [`CharIndex`] are: a lookup scans at most
/// this many characters after a binary search.
const CHECKPOINT_EVERY: usize = 64;

/// Byte offsets and character indices of a non-ASCII text, built in one pass so that turning
/// one into the other costs a binary search and a short scan instead of a walk from the start
/// of the line (which made a long non-ASCII line quadratic: every node walked it again).
///
/// Written here rather than taken from a crate: it is some forty lines over the line starts
/// this type already keeps, and the columns must stay exactly what they were (characters from
/// the start of the line, running on past its end as the previous walk did).
struct CharIndex {
    /// The byte offset of every [`CHECKPOINT_EVERY`]th character (character 0, 64, 128, …).
    checkpoints: Vec<usize>,
    /// The character index of each line's start, parallel to `line_starts`.
    line_chars: Vec<usize>,
    /// How many characters the text has.
    total: usize,
}

impl std::fmt::Debug for CharIndex {
    // The tables hold an entry per line and per 64 characters: their sizes say enough.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CharIndex")
            .field("checkpoints", &self.checkpoints.len())
            .field("lines", &self.line_chars.len())
            .field("total", &self.total)
            .finish()
    }
}

impl CharIndex {
    fn new(text: &str, line_count: usize) -> Self {
        let mut checkpoints = Vec::with_capacity(text.len() / CHECKPOINT_EVERY + 1);
        let mut line_chars = Vec::with_capacity(line_count);
        line_chars.push(0);
        let mut chars = 0usize;
        for (offset, &byte) in text.as_bytes().iter().enumerate() {
            // A UTF-8 continuation byte (`10xxxxxx`) does not start a character.
            if byte & 0xC0 == 0x80 {
                continue;
            }
            if chars.is_multiple_of(CHECKPOINT_EVERY) {
                checkpoints.push(offset);
            }
            chars += 1;
            if byte == b'\n' {
                line_chars.push(chars);
            }
        }
        CharIndex {
            checkpoints,
            line_chars,
            total: chars,
        }
    }

    /// The byte offset of character `index`, or the end of the text past its last character.
    fn offset_of_char(&self, text: &str, index: usize) -> usize {
        if index >= self.total {
            return text.len();
        }
        let from = self.checkpoints[index / CHECKPOINT_EVERY];
        text[from..]
            .char_indices()
            .nth(index % CHECKPOINT_EVERY)
            .map_or(text.len(), |(i, _)| from + i)
    }

    /// The index of the character starting at byte `offset` (a character boundary).
    fn char_of_offset(&self, text: &str, offset: usize) -> usize {
        let slot = match self.checkpoints.binary_search(&offset) {
            Ok(slot) => return slot * CHECKPOINT_EVERY,
            Err(0) => return 0,
            Err(slot) => slot - 1,
        };
        let from = self.checkpoints[slot];
        slot * CHECKPOINT_EVERY + text.get(from..offset).map_or(0, |s| s.chars().count())
    }
}

impl SourceFile {
    /// Wraps a file's text.
    pub fn new(name: impl Into<Arc<str>>, text: impl Into<Arc<str>>) -> Self {
        let text: Arc<str> = text.into();
        let line_starts: Arc<[usize]> = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        let chars = (!text.is_ascii()).then(|| Arc::new(CharIndex::new(&text, line_starts.len())));
        SourceFile {
            name: name.into(),
            text,
            line_starts,
            chars,
        }
    }

    /// The position of a 1-based line and a 0-based character column.
    pub fn position(&self, line: usize, char_column: usize) -> Position {
        let line = line.max(1);
        let index = (line - 1).min(self.line_starts.len().saturating_sub(1));
        let start = self.line_starts.get(index).copied().unwrap_or(0);
        let offset = match &self.chars {
            None => start + char_column.min(self.text.len().saturating_sub(start)),
            Some(chars) => {
                let line_chars = chars.line_chars.get(index).copied().unwrap_or(0);
                let line_end = self
                    .line_starts
                    .get(index + 1)
                    .copied()
                    .unwrap_or(self.text.len());
                let next_chars = chars
                    .line_chars
                    .get(index + 1)
                    .copied()
                    .unwrap_or(chars.total);
                // An ASCII line, and a column within it: the column is a byte offset.
                if next_chars - line_chars == line_end - start && char_column <= line_end - start {
                    start + char_column
                } else {
                    chars.offset_of_char(&self.text, line_chars + char_column)
                }
            }
        };
        Position {
            line: (index + 1) as u32,
            column: char_column as u32 + 1,
            offset,
        }
    }

    /// The position of a byte offset.
    pub fn position_of_offset(&self, offset: usize) -> Position {
        let offset = offset.min(self.text.len());
        let index = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[index];
        let column = match &self.chars {
            None => offset - start,
            // Inside a character: column 1, as counting the characters before it always gave.
            Some(_) if !self.text.is_char_boundary(offset) => 0,
            Some(chars) => {
                chars.char_of_offset(&self.text, offset)
                    - chars.line_chars.get(index).copied().unwrap_or(0)
            }
        };
        Position {
            line: (index + 1) as u32,
            column: column as u32 + 1,
            offset,
        }
    }

    /// The byte range of the line holding byte `offset`, without its line break.
    pub fn line_bounds(&self, offset: usize) -> std::ops::Range<usize> {
        let offset = offset.min(self.text.len());
        let index = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let end = self
            .line_starts
            .get(index + 1)
            .map_or(self.text.len(), |next| next - 1);
        self.line_starts[index]..end
    }

    /// The number of lines.
    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }
}
