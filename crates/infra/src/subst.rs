//! The template language: typed `${parameter}` substitution and `Render::` directives over YAML values.
//!
//! - A string that is exactly `${name}` becomes the parameter's value, whatever its type (a number,
//!   a list, a CloudFormation intrinsic...). Inside a longer string the parameter must be a scalar.
//! - Parameter names start with a lower-case letter. `${Name}` and `${AWS::Region}` are left alone
//!   for CloudFormation (`Fn::Sub`, state machine `DefinitionSubstitutions`).
//! - `Render::When: <bool>` in a mapping keeps the mapping (without the key) or drops it from its
//!   parent; `Render::If: [<bool>, then, else]` picks a branch; `Render::Concat: [list, ...]` joins
//!   lists; `Render::Json: value` becomes the value as a JSON string; the string `Render::Omit`
//!   drops itself from its parent. Branches not taken are never substituted.

use std::collections::BTreeMap;

use serde_yaml::{Mapping, Value};

use crate::error::InfraError;

/// The string that removes itself from its parent mapping or list.
pub const OMIT: &str = "Render::Omit";

/// Parameters by their dotted names (`names.inputBucket`).
#[derive(Debug, Clone, Default)]
pub struct Params {
    values: BTreeMap<String, Value>,
}

impl Params {
    /// Sets one parameter.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<Value>) {
        self.values.insert(name.into(), value.into());
    }

    /// Sets every leaf of `value` under `prefix` (`import` + `{batchSize: 100}` sets `import.batchSize`),
    /// and `prefix` itself to the whole value.
    pub fn set_tree(&mut self, prefix: &str, value: &Value) {
        if let Value::Mapping(mapping) = value {
            for (key, child) in mapping {
                if let Some(key) = key.as_str() {
                    self.set_tree(&format!("{prefix}.{key}"), child);
                }
            }
        }
        self.values.insert(prefix.to_owned(), value.clone());
    }

    /// One parameter.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    /// Renders `value` (from `file`): substitutes parameters and applies directives.
    pub fn render(&self, file: &str, value: &Value) -> Result<Value, InfraError> {
        Ok(self.render_value(file, value)?.unwrap_or(Value::Null))
    }

    fn render_value(&self, file: &str, value: &Value) -> Result<Option<Value>, InfraError> {
        match value {
            Value::String(text) => {
                let rendered = self.substitute(file, text)?;
                Ok((rendered.as_str() != Some(OMIT)).then_some(rendered))
            }
            Value::Sequence(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    if let Some(item) = self.render_value(file, item)? {
                        out.push(item);
                    }
                }
                Ok(Some(Value::Sequence(out)))
            }
            Value::Mapping(mapping) => self.render_mapping(file, mapping),
            Value::Tagged(_) => Err(InfraError::template(
                file,
                "YAML tags (`!Ref`...) are not used in templates: write the long form (`Ref:`, `Fn::GetAtt:`)",
            )),
            other => Ok(Some(other.clone())),
        }
    }

    fn render_mapping(&self, file: &str, mapping: &Mapping) -> Result<Option<Value>, InfraError> {
        if let Some(when) = mapping.get("Render::When")
            && !self.condition(file, "Render::When", when)?
        {
            return Ok(None);
        }
        if mapping.len() == 1 {
            let (key, body) = mapping.iter().next().expect("one entry");
            match key.as_str() {
                Some("Render::If") => {
                    let branches =
                        body.as_sequence().filter(|b| b.len() == 3).ok_or_else(|| {
                            InfraError::template(file, "`Render::If` takes [condition, then, else]")
                        })?;
                    let chosen = if self.condition(file, "Render::If", &branches[0])? {
                        &branches[1]
                    } else {
                        &branches[2]
                    };
                    return self.render_value(file, chosen);
                }
                Some("Render::Concat") => {
                    let parts = body.as_sequence().ok_or_else(|| {
                        InfraError::template(file, "`Render::Concat` takes a list of lists")
                    })?;
                    let mut joined = Vec::new();
                    for part in parts {
                        match self.render_value(file, part)? {
                            Some(Value::Sequence(items)) => joined.extend(items),
                            None => {}
                            Some(_) => {
                                return Err(InfraError::template(
                                    file,
                                    "`Render::Concat` takes a list of lists",
                                ));
                            }
                        }
                    }
                    return Ok(Some(Value::Sequence(joined)));
                }
                Some("Render::Json") => {
                    let inner = self.render(file, body)?;
                    let json = serde_json::to_string_pretty(&inner)
                        .map_err(|err| InfraError::template(file, err.to_string()))?;
                    return Ok(Some(Value::String(json)));
                }
                _ => {}
            }
        }
        let mut out = Mapping::with_capacity(mapping.len());
        for (key, child) in mapping {
            let key_text = key.as_str().ok_or_else(|| {
                InfraError::template(file, format!("a mapping key is not a string: {key:?}"))
            })?;
            if key_text == "Render::When" {
                continue;
            }
            if key_text.starts_with("Render::") {
                return Err(InfraError::template(
                    file,
                    format!(
                        "`{key_text}` is not a directive (Render::When, Render::If, Render::Concat, Render::Json)"
                    ),
                ));
            }
            let key = self.substitute(file, key_text)?;
            let Some(key_text) = key.as_str() else {
                return Err(InfraError::template(
                    file,
                    format!("the key `{key_text}` became a non-string"),
                ));
            };
            if let Some(child) = self.render_value(file, child)?
                && out
                    .insert(Value::String(key_text.to_owned()), child)
                    .is_some()
            {
                return Err(InfraError::template(
                    file,
                    format!("the key `{key_text}` appears twice"),
                ));
            }
        }
        Ok(Some(Value::Mapping(out)))
    }

    fn condition(&self, file: &str, directive: &str, value: &Value) -> Result<bool, InfraError> {
        match self.render(file, value)? {
            Value::Bool(flag) => Ok(flag),
            other => Err(InfraError::template(
                file,
                format!("`{directive}` needs a boolean, got {}", describe(&other)),
            )),
        }
    }

    /// Substitutes the parameters of one string.
    fn substitute(&self, file: &str, text: &str) -> Result<Value, InfraError> {
        if let Some(name) = whole_placeholder(text)
            && is_parameter_name(name)
        {
            return self.lookup(file, name).cloned();
        }
        if !text.contains("${") {
            return Ok(Value::String(text.to_owned()));
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(InfraError::template(
                    file,
                    format!("`${{` is never closed in `{text}`"),
                ));
            };
            let name = &after[..end];
            if is_parameter_name(name) {
                let value = self.lookup(file, name)?;
                out.push_str(&scalar_text(value).ok_or_else(|| {
                    InfraError::template(
                        file,
                        format!(
                            "`${{{name}}}` is {} and cannot be part of the string `{text}`",
                            describe(value)
                        ),
                    )
                })?);
            } else {
                out.push_str(&rest[start..start + 3 + end]);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(Value::String(out))
    }

    fn lookup(&self, file: &str, name: &str) -> Result<&Value, InfraError> {
        self.values.get(name).ok_or_else(|| {
            let prefix = name.rsplit_once('.').map_or(name, |(head, _)| head);
            let siblings: Vec<&str> = self
                .values
                .keys()
                .filter(|key| key.rsplit_once('.').is_some_and(|(head, _)| head == prefix))
                .map(String::as_str)
                .take(12)
                .collect();
            let hint = if siblings.is_empty() {
                String::new()
            } else {
                format!(" (known: {})", siblings.join(", "))
            };
            InfraError::UnknownParameter {
                file: file.to_owned(),
                name: name.to_owned(),
                hint,
            }
        })
    }
}

/// `name` when `text` is exactly `${name}`.
fn whole_placeholder(text: &str) -> Option<&str> {
    let name = text.strip_prefix("${")?.strip_suffix('}')?;
    (!name.contains('}') && !name.contains("${")).then_some(name)
}

/// Whether `${name}` is ours (a lower-case start) rather than CloudFormation's.
fn is_parameter_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
}

/// The text of a scalar value, as it appears inside a longer string.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    // expect-test's `check` helpers take the expectation by value, as its documentation does.
    #[allow(clippy::needless_pass_by_value)]
    fn check(template: &str, expected: Expect) {
        let mut params = Params::default();
        params.set("env", "staging");
        params.set("batch", 100);
        params.set("on", true);
        params.set("off", false);
        params.set("list", Value::Sequence(vec!["a".into(), "b".into()]));
        let value: Value = serde_yaml::from_str(template).unwrap();
        let actual = match params.render("t.yaml", &value) {
            Ok(rendered) => serde_yaml::to_string(&rendered).unwrap(),
            Err(err) => format!("error: {err}\n"),
        };
        expected.assert_eq(&actual);
    }

    #[test]
    fn whole_placeholders_keep_their_type_and_embedded_ones_interpolate() {
        check(
            "a: ${batch}\nb: x-${env}-${batch}\nc: ${list}\nd: ${AWS::Region}-${Thing}\ne: $.path",
            expect![[r#"
                a: 100
                b: x-staging-100
                c:
                - a
                - b
                d: ${AWS::Region}-${Thing}
                e: $.path
            "#]],
        );
    }

    #[test]
    fn unknown_parameters_and_lists_inside_strings_are_errors() {
        check(
            "a: ${nope}",
            expect![[r#"
            error: `t.yaml`: `${nope}` is not a parameter
        "#]],
        );
        check(
            "a: x${list}",
            expect![[r#"
            error: `t.yaml`: `${list}` is a list and cannot be part of the string `x${list}`
        "#]],
        );
    }

    #[test]
    fn directives_choose_drop_and_join_without_rendering_untaken_branches() {
        check(
            r#"
kept: {Render::When: "${on}", x: 1}
dropped: {Render::When: "${off}", x: "${nope}"}
items: [1, Render::Omit, {Render::When: "${off}", y: 2}]
chosen: {Render::If: ["${off}", "${nope}", picked]}
joined: {Render::Concat: ["${list}", [c]]}
json: {Render::Json: {k: "${batch}"}}
"#,
            expect![[r#"
                kept:
                  x: 1
                items:
                - 1
                chosen: picked
                joined:
                - a
                - b
                - c
                json: |-
                  {
                    "k": 100
                  }
            "#]],
        );
        check(
            "a: {Render::Whenn: true}",
            expect![[r#"
            error: `t.yaml`: `Render::Whenn` is not a directive (Render::When, Render::If, Render::Concat, Render::Json)
        "#]],
        );
    }
}
