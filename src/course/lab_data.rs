//! The Dragons lab's data: the embedded default, and the check — made before any AWS call, and on
//! what `dragons` reads back — that bytes are what the lab application reads.

use serde_json::{Map, Value};

use crate::error::Error;

/// The embedded default data set (the course's 25 dragons).
pub(crate) const DEFAULT_DRAGONS: &[u8] = include_bytes!("../../data/dragons.json");

/// The field every dragon record carries; the lab application lists dragons by it.
pub(crate) const DRAGON_NAME_FIELD: &str = "dragon_name_str";

/// Checks that `bytes` is what the lab application reads: a JSON array of objects, each with a
/// `dragon_name_str`. Returns the records.
pub(crate) fn parse_dragons(
    bytes: &[u8],
    origin: &str,
) -> Result<Vec<serde_json::Map<String, Value>>, Error> {
    let hint = "the lab data is a JSON array of dragon objects like data/dragons.json, each with a \
                \"dragon_name_str\"";
    if bytes.starts_with(UTF8_BOM) {
        return Err(bom_error(origin));
    }
    let document: Value = serde_json::from_slice(bytes).map_err(|e| {
        Error::usage(format!("{origin} is not JSON"))
            .with_cause(e.to_string())
            .with_hint(hint)
    })?;
    let Value::Array(items) = document else {
        return Err(Error::usage(format!(
            "{origin} is not a JSON array of dragons (it is {})",
            kind(&document)
        ))
        .with_hint(hint));
    };
    if items.is_empty() {
        return Err(Error::usage(format!("{origin} holds no dragons")).with_hint(hint));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| match item {
            Value::Object(record)
                if record.get(DRAGON_NAME_FIELD).is_some_and(Value::is_string) =>
            {
                Ok(record)
            }
            Value::Object(_) => Err(Error::usage(format!(
                "{origin}: element {index} has no string \"{DRAGON_NAME_FIELD}\""
            ))
            .with_hint(hint)),
            other => Err(Error::usage(format!(
                "{origin}: element {index} is {}, not a dragon object",
                kind(&other)
            ))
            .with_hint(hint)),
        })
        .collect()
}

/// The UTF-8 byte order mark some Windows editors write at the start of a file.
pub(crate) const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// A file that starts with a byte order mark, which JSON (RFC 8259 §8.1) does not allow.
pub(crate) fn bom_error(origin: &str) -> Error {
    Error::usage(format!(
        "{origin} starts with a UTF-8 byte order mark (bytes EF BB BF), which JSON does not allow"
    ))
    .with_hint(format!(
        "save it as UTF-8 without BOM (most editors offer \"UTF-8\" next to \"UTF-8 with BOM\"), \
         or strip it: sed -i '1s/^\\xEF\\xBB\\xBF//' {origin}"
    ))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The dragons as a table for the terminal, one line each under a title line: the columns the
/// course's lab application shows.
pub(crate) fn table(dragons: &[Map<String, Value>]) -> Vec<String> {
    let columns = [
        ("NAME", "dragon_name_str"),
        ("FAMILY", "family_str"),
        ("CITY", "location_city_str"),
        ("STATE", "location_state_str"),
        ("DAMAGE", "damage_int"),
        ("PROTECTION", "protection_int"),
    ];
    let cell = |dragon: &Map<String, Value>, field: &str| match dragon.get(field) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".to_string(),
        Some(other) => other.to_string(),
    };
    let rows: Vec<Vec<String>> = dragons
        .iter()
        .map(|d| columns.iter().map(|(_, field)| cell(d, field)).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, (title, _))| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([title.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    std::iter::once(line(columns.iter().map(|(t, _)| t.to_string()).collect()))
        .chain(rows.into_iter().map(line))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_data_holds_25_dragons() {
        assert_eq!(
            parse_dragons(DEFAULT_DRAGONS, "data/dragons.json")
                .expect("valid")
                .len(),
            25
        );
    }

    #[test]
    fn data_that_is_not_dragons_is_refused() {
        assert!(
            parse_dragons(b"{", "f")
                .unwrap_err()
                .message()
                .contains("is not JSON")
        );
        assert!(
            parse_dragons(b"{\"a\": 1}", "f")
                .unwrap_err()
                .message()
                .contains("not a JSON array")
        );
        assert!(
            parse_dragons(b"[]", "f")
                .unwrap_err()
                .message()
                .contains("no dragons")
        );
        assert!(
            parse_dragons(b"[{\"name\": \"x\"}]", "f")
                .unwrap_err()
                .message()
                .contains("element 0 has no")
        );
        assert!(
            parse_dragons(b"[1]", "f")
                .unwrap_err()
                .message()
                .contains("element 0 is a number")
        );
    }

    #[test]
    fn a_byte_order_mark_is_named() {
        let mut bytes = UTF8_BOM.to_vec();
        bytes.extend_from_slice(DEFAULT_DRAGONS);
        let error = parse_dragons(&bytes, "dragons.json").expect_err("BOM");
        assert!(
            error.message().contains("byte order mark"),
            "{}",
            error.message()
        );
        assert_eq!(error.status(), crate::error::ExitStatus::Usage);
    }
}
