//! Local checks of the Dragons lab's inputs, made before any AWS call: S3 bucket names, the dragons
//! data file, object keys.

use serde_json::Value;

use crate::error::Error;

/// The embedded default data set (the course's 25 dragons).
pub const DEFAULT_DRAGONS: &[u8] = include_bytes!("../data/dragons.json");

/// The field every dragon record carries; the lab application lists dragons by it.
pub const DRAGON_NAME_FIELD: &str = "dragon_name_str";

/// Checks a general purpose bucket name against the S3 naming rules.
pub fn check_bucket_name(name: &str) -> Result<(), Error> {
    let invalid = |why: &str| {
        Error::usage(format!("`{name}` is not a valid S3 bucket name: {why}")).with_hint(
            "bucket names are 3-63 lower-case letters, digits, dots and hyphens, starting and ending \
             with a letter or digit; omit --bucket for the default dragons-lab-<account-id>-<region>",
        )
    };
    let length = name.len();
    if !(3..=63).contains(&length) {
        return Err(invalid(&format!(
            "it is {length} characters long, not 3 to 63"
        )));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        let why = if bad.is_ascii_uppercase() {
            "upper-case letters are not allowed".to_string()
        } else {
            format!("`{bad}` is not allowed")
        };
        return Err(invalid(&why));
    }
    let first_last_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_last_ok(name.chars().next()) || !first_last_ok(name.chars().last()) {
        return Err(invalid("it must begin and end with a letter or digit"));
    }
    if name.contains("..") {
        return Err(invalid("it has two adjacent dots"));
    }
    if name.contains(".-") || name.contains("-.") {
        return Err(invalid("a dot may not be next to a hyphen"));
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(invalid("it has the form of an IP address"));
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            return Err(invalid(&format!("the prefix `{prefix}` is reserved")));
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(suffix) {
            return Err(invalid(&format!("the suffix `{suffix}` is reserved")));
        }
    }
    Ok(())
}

/// Checks an object key: 1 to 1024 bytes, no leading slash (S3 would make an empty first segment).
pub fn check_object_key(key: &str) -> Result<(), Error> {
    if key.is_empty() || key.len() > 1024 {
        return Err(
            Error::usage(format!("--key `{key}` must be 1 to 1024 bytes long"))
                .with_hint("omit --key for the default dragons.json"),
        );
    }
    if key.starts_with('/') {
        return Err(
            Error::usage(format!("--key `{key}` must not start with `/`"))
                .with_hint("write keys without a leading slash, e.g. data/dragons.json"),
        );
    }
    Ok(())
}

/// Checks that `bytes` is what the lab application reads: a JSON array of objects, each with a
/// `dragon_name_str`. Returns the records.
pub fn parse_dragons(
    bytes: &[u8],
    origin: &str,
) -> Result<Vec<serde_json::Map<String, Value>>, Error> {
    let hint = "the lab data is a JSON array of dragon objects like data/dragons.json, each with a \
                \"dragon_name_str\"";
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_bucket_names_pass() {
        for name in [
            "dragons-lab-123456789012-us-east-1",
            "abc",
            "a.b-c1",
            &"a".repeat(63),
        ] {
            assert!(check_bucket_name(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn each_s3_naming_rule_is_enforced() {
        let cases = [
            ("Dragons", "upper-case"),
            ("my_bucket", "`_` is not allowed"),
            ("ab", "not 3 to 63"),
            (&"a".repeat(64), "not 3 to 63"),
            ("192.168.5.4", "IP address"),
            ("-dragons", "begin and end"),
            ("dragons-", "begin and end"),
            ("xn--dragons", "`xn--` is reserved"),
            ("dragons-s3alias", "`-s3alias` is reserved"),
            ("dragons..lab", "two adjacent dots"),
            ("dragons.-lab", "next to a hyphen"),
            ("sthree-dragons", "`sthree-` is reserved"),
            ("dragons--ol-s3", "`--ol-s3` is reserved"),
        ];
        for (name, why) in cases {
            let error = check_bucket_name(name).expect_err(name);
            assert!(error.message().contains(why), "{name}: {}", error.message());
            assert_eq!(error.status(), crate::error::ExitStatus::Usage);
        }
    }

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
    fn keys_are_checked() {
        assert!(check_object_key("dragons.json").is_ok());
        assert!(check_object_key("").is_err());
        assert!(check_object_key("/dragons.json").is_err());
    }
}
