//! `{{name}}` interpolation for TTS text, `set` values and survey/webhook fields. Unknown
//! names render empty: a caller must never hear a template marker.

/// A template that cannot be rendered, found by the validator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unclosed `{{{{` at byte {0}")]
    Unclosed(usize),
    #[error("empty or invalid variable name at byte {0}")]
    BadName(usize),
}

/// Checks that every `{{` is closed and names a variable (`[A-Za-z0-9_.]+`).
pub fn check(template: &str) -> Result<(), TemplateError> {
    let mut rest = template;
    let mut offset = 0;
    while let Some(open) = rest.find("{{") {
        let start = offset + open;
        let after = &rest[open + 2..];
        let close = after.find("}}").ok_or(TemplateError::Unclosed(start))?;
        let name = after[..close].trim();
        if !valid_name(name) {
            return Err(TemplateError::BadName(start));
        }
        let consumed = open + 2 + close + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    Ok(())
}

/// True for names usable as variables.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// Renders `template`, asking `lookup` for each name. Malformed markers are dropped.
pub fn render<'a>(template: &str, lookup: impl Fn(&str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        match after.find("}}") {
            Some(close) => {
                if let Some(v) = lookup(after[..close].trim()) {
                    out.push_str(v);
                }
                rest = &after[close + 2..];
            }
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_known_and_blanks_unknown() {
        let look = |n: &str| match n {
            "name" => Some("Ada"),
            _ => None,
        };
        assert_eq!(render("Hi {{ name }}, {{x}}!", look), "Hi Ada, !");
        assert_eq!(render("no vars", look), "no vars");
        assert_eq!(render("broken {{name", look), "broken ");
    }

    #[test]
    fn check_finds_unclosed_and_bad_names() {
        assert_eq!(check("a {{b}} c"), Ok(()));
        assert_eq!(check("a {{b"), Err(TemplateError::Unclosed(2)));
        assert_eq!(check("{{b}} {{ }}"), Err(TemplateError::BadName(6)));
        assert_eq!(check("{{a b}}"), Err(TemplateError::BadName(0)));
    }
}
