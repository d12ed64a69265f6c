//! A YAML writer for rendered documents: block style, two-space indents, and quoting that every
//! YAML 1.1 and 1.2 reader (CloudFormation, cfn-lint, serde_yaml) reads back as the same string.

use std::fmt::Write;

use serde_yaml::Value;

/// The YAML text of a value.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Mapping(mapping) if !mapping.is_empty() => write_mapping(&mut out, mapping, 0),
        Value::Sequence(items) if !items.is_empty() => write_sequence(&mut out, items, 0),
        other => {
            out.push_str(&inline(other, 0));
            out.push('\n');
        }
    }
    out
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn is_block(value: &Value) -> bool {
    match value {
        Value::Mapping(mapping) => !mapping.is_empty(),
        Value::Sequence(items) => !items.is_empty(),
        Value::Tagged(tagged) => is_block(&tagged.value),
        _ => false,
    }
}

fn write_mapping(out: &mut String, mapping: &serde_yaml::Mapping, indent: usize) {
    for (index, (key, value)) in mapping.iter().enumerate() {
        if index > 0 {
            pad(out, indent);
        }
        out.push_str(&key_text(key));
        out.push(':');
        write_value_after_key(out, value, indent);
    }
}

fn write_value_after_key(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Mapping(mapping) if !mapping.is_empty() => {
            out.push('\n');
            pad(out, indent + 2);
            write_mapping(out, mapping, indent + 2);
        }
        Value::Sequence(items) if !items.is_empty() => {
            out.push('\n');
            pad(out, indent + 2);
            write_sequence(out, items, indent + 2);
        }
        other => {
            out.push(' ');
            out.push_str(&inline(other, indent + 2));
            out.push('\n');
        }
    }
}

fn write_sequence(out: &mut String, items: &[Value], indent: usize) {
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            pad(out, indent);
        }
        out.push_str("- ");
        match item {
            Value::Mapping(mapping) if !mapping.is_empty() => {
                write_mapping(out, mapping, indent + 2)
            }
            Value::Sequence(inner) if !inner.is_empty() => write_sequence(out, inner, indent + 2),
            other => {
                out.push_str(&inline(other, indent + 2));
                out.push('\n');
            }
        }
    }
}

fn key_text(key: &Value) -> String {
    match key {
        Value::String(text) => string_text(text, 0, false),
        other => inline(other, 0),
    }
}

/// A scalar (or an empty collection) on one line; multi-line strings become block literals.
fn inline(value: &Value, indent: usize) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::String(text) => string_text(text, indent, true),
        Value::Sequence(_) => "[]".to_owned(),
        Value::Mapping(_) => "{}".to_owned(),
        Value::Tagged(tagged) => {
            if is_block(&tagged.value) {
                serde_yaml::to_string(value)
                    .unwrap_or_default()
                    .trim_end()
                    .to_owned()
            } else {
                format!("{} {}", tagged.tag, inline(&tagged.value, indent))
            }
        }
    }
}

fn string_text(text: &str, indent: usize, allow_block: bool) -> String {
    if allow_block && text.contains('\n') && literal_block_safe(text) {
        let mut block = String::from("|-");
        for line in text.split('\n') {
            block.push('\n');
            if !line.is_empty() {
                block.extend(std::iter::repeat_n(' ', indent));
                block.push_str(line);
            }
        }
        return block;
    }
    if plain_safe(text) {
        return text.to_owned();
    }
    if text.chars().all(|c| !c.is_control()) {
        return format!("'{}'", text.replace('\'', "''"));
    }
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(quoted, "\\u{:04x}", u32::from(c));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

fn literal_block_safe(text: &str) -> bool {
    !text.starts_with([' ', '\t'])
        && !text.ends_with('\n')
        && text.split('\n').all(|line| {
            !line.ends_with([' ', '\t']) && line.chars().all(|c| !c.is_control() || c == '\t')
        })
}

/// Whether a string can be written without quotes and read back as the same string by YAML 1.1
/// and 1.2 readers alike.
fn plain_safe(text: &str) -> bool {
    const RESERVED: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~", "<<",
        "=",
    ];
    let Some(first) = text.chars().next() else {
        return false;
    };
    if RESERVED.contains(&text)
        || "-?:,[]{}#&*!|>'\"%@`".contains(first)
        || first.is_whitespace()
        || text.ends_with(char::is_whitespace)
        || text.ends_with(':')
        || text.contains(": ")
        || text.contains(" #")
        || text.contains(['\n', '\r', '\t'])
        || text.chars().any(char::is_control)
    {
        return false;
    }
    let looks_numeric = first.is_ascii_digit()
        || (matches!(first, '+' | '.')
            && text.chars().nth(1).is_some_and(|c| {
                c.is_ascii_digit() || c == 'i' || c == 'n' || c == 'I' || c == 'N'
            }));
    !looks_numeric
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    #[test]
    fn quotes_what_yaml_readers_would_misread_and_keeps_the_rest_plain() {
        let value: Value = serde_yaml::from_str(
            r#"
Mode: "OFF"
Version: "2012-10-17"
Port: "5432"
Count: 5432
Arn: arn:aws:s3:::bucket/*
Star: "*"
Resolve: "{{resolve:ssm:/x}}"
Path: $.validation.isValid
Spaced: "a: b"
Multi: "{\n  \"k\": 1\n}"
List: [a, {b: 1, c: [2]}, []]
Empty: {}
"#,
        )
        .unwrap();
        let text = to_string(&value);
        expect![[r#"
            Mode: 'OFF'
            Version: '2012-10-17'
            Port: '5432'
            Count: 5432
            Arn: arn:aws:s3:::bucket/*
            Star: '*'
            Resolve: '{{resolve:ssm:/x}}'
            Path: $.validation.isValid
            Spaced: 'a: b'
            Multi: |-
              {
                "k": 1
              }
            List:
              - a
              - b: 1
                c:
                  - 2
              - []
            Empty: {}
        "#]]
        .assert_eq(&text);
        let back: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(back, value);
    }
}
