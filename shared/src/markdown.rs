//! Text from outside (repository names, tags, principals, AWS's error messages) shown literally
//! in the markdown reports: `*`, `_`, `[…](…)`, `<…>` and `|` would otherwise become emphasis,
//! links, HTML or a broken table.

/// One line of literal text: CommonMark's backslash escape before each character that can start
/// markup, and line breaks as spaces (a table cell is one line).
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '~' | '!' | '&' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_shown_as_written() {
        assert_eq!(text("team_a/app__v1"), "team\\_a/app\\_\\_v1");
        assert_eq!(text("[click](http://x) <b> a|b *x*"), "\\[click\\](http://x) \\<b\\> a\\|b \\*x\\*");
        assert_eq!(text("two\nlines"), "two lines");
        assert_eq!(text("plain-name.1"), "plain-name.1");
    }
}
