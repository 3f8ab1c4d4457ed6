//! `SourceFile` positions: the line index gives exactly what walking the text from the start
//! of the line gave (issue 8: that walk made validate quadratic on non-ASCII input).

use imagesmith_diagnostics::{Position, SourceFile};

/// The positions as they were computed before the line index: by walking the text.
fn walked_position(text: &str, line: usize, char_column: usize) -> Position {
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let line = line.max(1);
    let index = (line - 1).min(line_starts.len().saturating_sub(1));
    let start = line_starts[index];
    let rest = &text[start..];
    let offset = start
        + rest
            .char_indices()
            .nth(char_column)
            .map_or(rest.len(), |(i, _)| i);
    Position {
        line: (index + 1) as u32,
        column: char_column as u32 + 1,
        offset,
    }
}

fn walked_position_of_offset(text: &str, offset: usize) -> Position {
    let offset = offset.min(text.len());
    let start = text.as_bytes()[..offset]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = text[..start].matches('\n').count();
    let column = text.get(start..offset).map_or(0, |s| s.chars().count());
    Position {
        line: line as u32 + 1,
        column: column as u32 + 1,
        offset,
    }
}

/// Every line and column (and some past the end), every byte offset (inside characters
/// too), on texts mixing ASCII, two-, three- and four-byte characters, empty and long lines.
#[test]
fn positions_match_walking_the_text() {
    let long_mixed: String = (0..300)
        .map(|i| match i % 7 {
            0 => 'é',
            3 => '€',
            5 => '𝄞',
            _ => 'a',
        })
        .collect();
    let texts = [
        String::new(),
        "\n".to_string(),
        "a: 1\nb: 2\n".to_string(),
        "é".to_string(),
        "é\n\né\n".to_string(),
        "ascii line\nlabel: café\n\nlast: x".to_string(),
        format!("k: {long_mixed}\nplain: ascii\n{long_mixed}\n"),
        format!("{}é{}\n", "x".repeat(130), "y".repeat(70)),
        "a\r\nb: é\r\n".to_string(),
    ];
    for text in &texts {
        let source = SourceFile::new("t.yaml", text.as_str());
        let lines = text.matches('\n').count() + 1;
        let longest = text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
        for line in 0..=lines + 1 {
            for column in 0..=longest + 3 {
                assert_eq!(
                    source.position(line, column),
                    walked_position(text, line, column),
                    "position({line}, {column}) of {text:?}"
                );
            }
        }
        for offset in 0..=text.len() + 2 {
            assert_eq!(
                source.position_of_offset(offset),
                walked_position_of_offset(text, offset),
                "position_of_offset({offset}) of {text:?}"
            );
        }
    }
}

/// A large non-ASCII file with one long line: every position is still right (the cost is
/// the benchmark's business: bench/validate-non-ascii.sh).
#[test]
fn positions_on_a_long_non_ascii_line() {
    let line: String = (0..5_000)
        .map(|i| format!("k{i}: é{i}, "))
        .collect::<String>();
    let text = format!("first: é\nlabels: {{{line}}}\nend: ü\n");
    let source = SourceFile::new("t.yaml", text.as_str());
    for column in (0..line.chars().count()).step_by(997) {
        assert_eq!(
            source.position(2, column),
            walked_position(&text, 2, column)
        );
    }
    for offset in (0..text.len()).step_by(1009) {
        assert_eq!(
            source.position_of_offset(offset),
            walked_position_of_offset(&text, offset)
        );
    }
    assert_eq!(source.position(3, 5), walked_position(&text, 3, 5));
}
