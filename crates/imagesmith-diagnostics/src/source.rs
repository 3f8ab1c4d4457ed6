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
    /// Whether the text is ASCII: then a character column is a byte offset in its line.
    ascii: bool,
}

impl SourceFile {
    /// Wraps a file's text.
    pub fn new(name: impl Into<Arc<str>>, text: impl Into<Arc<str>>) -> Self {
        let text: Arc<str> = text.into();
        let line_starts: Arc<[usize]> = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceFile {
            name: name.into(),
            ascii: text.is_ascii(),
            text,
            line_starts,
        }
    }

    /// The position of a 1-based line and a 0-based character column.
    pub fn position(&self, line: usize, char_column: usize) -> Position {
        let line = line.max(1);
        let index = (line - 1).min(self.line_starts.len().saturating_sub(1));
        let start = self.line_starts.get(index).copied().unwrap_or(0);
        let rest = &self.text[start.min(self.text.len())..];
        let offset = if self.ascii {
            start + char_column.min(rest.len())
        } else {
            start
                + rest
                    .char_indices()
                    .nth(char_column)
                    .map_or(rest.len(), |(i, _)| i)
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
        let column = self
            .text
            .get(start..offset)
            .map_or(0, |s| s.chars().count());
        Position {
            line: (index + 1) as u32,
            column: column as u32 + 1,
            offset,
        }
    }

    /// The number of lines.
    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }
}
