//! The syntax of Step Functions JSONPath expressions and intrinsic functions (`States.Format(...)`).

/// Which kind of path a field takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// Any JSONPath (`InputPath`, `*.$` values, `Variable`).
    Path,
    /// A reference path: plain names and indexes, no wildcards or filters (`ResultPath`).
    Reference,
}

/// Checks one JSONPath (`$.a.b[0]`, `$$.Execution.Name`). Returns what is wrong.
pub fn check_path(path: &str, kind: PathKind) -> Result<(), String> {
    let rest = if let Some(rest) = path.strip_prefix("$$") {
        if kind == PathKind::Reference {
            return Err(format!(
                "`{path}`: a reference path cannot point into the context object"
            ));
        }
        rest
    } else if let Some(rest) = path.strip_prefix('$') {
        rest
    } else {
        return Err(format!("`{path}` does not start with `$`"));
    };
    let chars: Vec<char> = rest.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                if chars.get(i) == Some(&'.') {
                    if kind == PathKind::Reference {
                        return Err(format!("`{path}`: `..` is not allowed in a reference path"));
                    }
                    i += 1;
                }
                let start = i;
                while i < chars.len() && !matches!(chars[i], '.' | '[') {
                    if chars[i].is_whitespace()
                        || matches!(chars[i], ']' | '(' | ')' | '\'' | '"' | '$')
                    {
                        return Err(format!("`{path}`: `{}` cannot be part of a name", chars[i]));
                    }
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                if name.is_empty() {
                    return Err(format!("`{path}`: a name is missing after `.`"));
                }
                if name == "*" && kind == PathKind::Reference {
                    return Err(format!("`{path}`: `*` is not allowed in a reference path"));
                }
            }
            '[' => {
                let Some(close) = find_bracket_end(&chars, i) else {
                    return Err(format!("`{path}`: `[` is never closed"));
                };
                let inside: String = chars[i + 1..close].iter().collect();
                check_bracket(path, inside.trim(), kind)?;
                i = close + 1;
            }
            other => return Err(format!("`{path}`: expected `.` or `[` but found `{other}`")),
        }
    }
    Ok(())
}

fn find_bracket_end(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    for (offset, &c) in chars[open..].iter().enumerate() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + offset);
                }
            }
            _ => {}
        }
    }
    None
}

fn check_bracket(path: &str, inside: &str, kind: PathKind) -> Result<(), String> {
    if inside.is_empty() {
        return Err(format!("`{path}`: `[]` is empty"));
    }
    let quoted = (inside.starts_with('\'') && inside.ends_with('\'') && inside.len() >= 2)
        || (inside.starts_with('"') && inside.ends_with('"') && inside.len() >= 2);
    if quoted || inside.parse::<i64>().is_ok() {
        return Ok(());
    }
    if kind == PathKind::Reference {
        return Err(format!(
            "`{path}`: `[{inside}]` is not allowed in a reference path"
        ));
    }
    let slice = inside
        .split(':')
        .all(|part| part.trim().is_empty() || part.trim().parse::<i64>().is_ok());
    let union = inside
        .split(',')
        .all(|part| part.trim().parse::<i64>().is_ok());
    if inside == "*"
        || (inside.contains(':') && slice)
        || union
        || inside.starts_with("?(") && inside.ends_with(')')
    {
        return Ok(());
    }
    Err(format!(
        "`{path}`: `[{inside}]` is not an index, a slice, `*`, a quoted name or a filter"
    ))
}

/// Intrinsic functions and how many arguments each takes (at least, at most).
const INTRINSICS: &[(&str, usize, usize)] = &[
    ("States.Array", 0, usize::MAX),
    ("States.ArrayContains", 2, 2),
    ("States.ArrayGetItem", 2, 2),
    ("States.ArrayLength", 1, 1),
    ("States.ArrayPartition", 2, 2),
    ("States.ArrayRange", 3, 3),
    ("States.ArrayUnique", 1, 1),
    ("States.Base64Decode", 1, 1),
    ("States.Base64Encode", 1, 1),
    ("States.Format", 1, usize::MAX),
    ("States.Hash", 2, 2),
    ("States.JsonMerge", 3, 3),
    ("States.JsonToString", 1, 1),
    ("States.MathAdd", 2, 2),
    ("States.MathRandom", 2, 3),
    ("States.StringSplit", 2, 2),
    ("States.StringToJson", 1, 1),
    ("States.UUID", 0, 0),
];

/// An argument of an intrinsic function.
#[derive(Debug, Clone, PartialEq)]
enum Argument {
    Text(String),
    Number,
    Literal,
    Path,
    Call,
}

/// Checks a `*.$` value: a JSONPath or an intrinsic function call.
pub fn check_dynamic_value(text: &str) -> Result<(), String> {
    if text.starts_with('$') {
        check_path(text, PathKind::Path)
    } else if text.starts_with("States.") {
        check_intrinsic(text)
    } else {
        Err(format!(
            "`{text}` is neither a JSONPath nor an intrinsic function"
        ))
    }
}

/// Checks one intrinsic function call, including nested calls and the paths among its arguments.
pub fn check_intrinsic(text: &str) -> Result<(), String> {
    let chars: Vec<char> = text.chars().collect();
    let mut parser = Parser {
        chars: &chars,
        at: 0,
        source: text,
    };
    parser.call()?;
    parser.skip_space();
    if parser.at != chars.len() {
        return Err(format!("`{text}`: unexpected text after the call"));
    }
    Ok(())
}

struct Parser<'a> {
    chars: &'a [char],
    at: usize,
    source: &'a str,
}

impl Parser<'_> {
    fn error(&self, message: &str) -> String {
        format!("`{}`: {message}", self.source)
    }

    fn skip_space(&mut self) {
        while self.chars.get(self.at).is_some_and(|c| c.is_whitespace()) {
            self.at += 1;
        }
    }

    fn call(&mut self) -> Result<(), String> {
        let start = self.at;
        while self
            .chars
            .get(self.at)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '.')
        {
            self.at += 1;
        }
        let name: String = self.chars[start..self.at].iter().collect();
        let Some(&(_, min, max)) = INTRINSICS.iter().find(|(known, _, _)| *known == name) else {
            return Err(self.error(&format!("`{name}` is not an intrinsic function")));
        };
        if self.chars.get(self.at) != Some(&'(') {
            return Err(self.error(&format!("`{name}` must be followed by `(`")));
        }
        self.at += 1;
        let mut arguments = Vec::new();
        self.skip_space();
        if self.chars.get(self.at) == Some(&')') {
            self.at += 1;
        } else {
            loop {
                self.skip_space();
                arguments.push(self.argument()?);
                self.skip_space();
                match self.chars.get(self.at) {
                    Some(',') => self.at += 1,
                    Some(')') => {
                        self.at += 1;
                        break;
                    }
                    _ => return Err(self.error("expected `,` or `)` between arguments")),
                }
            }
        }
        if arguments.len() < min || arguments.len() > max {
            return Err(self.error(&format!(
                "`{name}` takes {} arguments, not {}",
                range_text(min, max),
                arguments.len()
            )));
        }
        if name == "States.Format" {
            let Argument::Text(template) = &arguments[0] else {
                return Err(
                    self.error("the first argument of `States.Format` must be a quoted string")
                );
            };
            let slots = template.matches("{}").count();
            if slots != arguments.len() - 1 {
                return Err(self.error(&format!(
                    "the template has {slots} `{{}}` but {} values follow",
                    arguments.len() - 1
                )));
            }
        }
        Ok(())
    }

    fn argument(&mut self) -> Result<Argument, String> {
        match self.chars.get(self.at) {
            Some('\'') => {
                self.at += 1;
                let mut text = String::new();
                loop {
                    match self.chars.get(self.at) {
                        None => return Err(self.error("a quoted string is never closed")),
                        Some('\\') => {
                            let Some(&escaped) = self.chars.get(self.at + 1) else {
                                return Err(self.error("a `\\` ends the text"));
                            };
                            text.push('\\');
                            text.push(escaped);
                            self.at += 2;
                        }
                        Some('\'') => {
                            self.at += 1;
                            return Ok(Argument::Text(text));
                        }
                        Some(&c) => {
                            text.push(c);
                            self.at += 1;
                        }
                    }
                }
            }
            Some('$') => {
                let start = self.at;
                let mut depth = 0usize;
                while let Some(&c) = self.chars.get(self.at) {
                    match c {
                        '[' => depth += 1,
                        ']' => depth = depth.saturating_sub(1),
                        ',' | ')' if depth == 0 => break,
                        _ => {}
                    }
                    self.at += 1;
                }
                let path: String = self.chars[start..self.at].iter().collect();
                check_path(path.trim_end(), PathKind::Path).map_err(|err| self.error(&err))?;
                Ok(Argument::Path)
            }
            Some('S') => {
                self.call()?;
                Ok(Argument::Call)
            }
            Some(c) if c.is_ascii_digit() || *c == '-' => {
                let start = self.at;
                while self
                    .chars
                    .get(self.at)
                    .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '.' | 'e' | 'E' | '+'))
                {
                    self.at += 1;
                }
                let number: String = self.chars[start..self.at].iter().collect();
                number
                    .parse::<f64>()
                    .map_err(|_| self.error(&format!("`{number}` is not a number")))?;
                Ok(Argument::Number)
            }
            Some(_) => {
                for literal in ["true", "false", "null"] {
                    let end = self.at + literal.len();
                    if end <= self.chars.len()
                        && self.chars[self.at..end].iter().collect::<String>() == literal
                    {
                        self.at = end;
                        return Ok(Argument::Literal);
                    }
                }
                Err(self.error("an argument must be a quoted string, a number, a path or a call"))
            }
            None => Err(self.error("the call is never closed")),
        }
    }
}

fn range_text(min: usize, max: usize) -> String {
    match (min, max) {
        (min, max) if min == max => min.to_string(),
        (min, usize::MAX) => format!("at least {min}"),
        (min, max) => format!("{min} to {max}"),
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    // expect-test's `check` helpers take the expectation by value, as its documentation does.
    #[allow(clippy::needless_pass_by_value)]
    fn check(cases: &[&str], expected: Expect) {
        let actual: String = cases
            .iter()
            .map(|case| match check_dynamic_value(case) {
                Ok(()) => format!("ok    {case}\n"),
                Err(err) => format!("error {err}\n"),
            })
            .collect();
        expected.assert_eq(&actual);
    }

    #[test]
    fn paths_and_intrinsics() {
        check(
            &[
                "$.validation.isValid",
                "$$.Map.Item.Value",
                "$.Items[0].index",
                "$.ユーザーID",
                "$['a b'].c",
                "$.a[*].b",
                "$validation",
                "$.a..",
                "$.a[0",
                "States.Format('{}: {}', $.error.Error, $.error.Cause)",
                "States.Format('{}', States.ArrayLength($.Items))",
                "States.UUID()",
                "States.Format('{} {}', $.a)",
                "States.Nope($.a)",
                "States.JsonToString($.a, $.b)",
                "States.Format('it''s', $.a",
            ],
            expect![[r#"
                ok    $.validation.isValid
                ok    $$.Map.Item.Value
                ok    $.Items[0].index
                ok    $.ユーザーID
                ok    $['a b'].c
                ok    $.a[*].b
                error `$validation`: expected `.` or `[` but found `v`
                error `$.a..`: a name is missing after `.`
                error `$.a[0`: `[` is never closed
                ok    States.Format('{}: {}', $.error.Error, $.error.Cause)
                ok    States.Format('{}', States.ArrayLength($.Items))
                ok    States.UUID()
                error `States.Format('{} {}', $.a)`: the template has 2 `{}` but 1 values follow
                error `States.Nope($.a)`: `States.Nope` is not an intrinsic function
                error `States.JsonToString($.a, $.b)`: `States.JsonToString` takes 1 arguments, not 2
                error `States.Format('it''s', $.a`: expected `,` or `)` between arguments
            "#]],
        );
    }
}
