//! The course's Lambda functions as provision deploys them: their Python source, in the repository
//! (`functions/`) and embedded in the binary, and their deployment packages, built here
//! byte-for-byte reproducibly — the files in name order, every entry dated 1980-01-01 00:00 (the
//! zip format's first representable time) with mode 0644, deflated at one fixed level — so that an
//! unchanged function has the same package, and the same `CodeSha256`, on every run and machine:
//! a re-run compares it with the function's and uploads nothing.

use std::io::Write;

use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

use crate::error::Error;

/// `GET /dragons`: the list function's handler module.
pub(crate) const LIST_DRAGONS: &str =
    include_str!("../../functions/list_dragons/lambda_function.py");

/// The handler Lambda calls in every package: `lambda_function.lambda_handler`.
pub(crate) const HANDLER: &str = "lambda_function.lambda_handler";

/// A deployment package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Package {
    pub(crate) zip: Vec<u8>,
    /// What Lambda reports as the function's `CodeSha256`: the package's SHA-256, in base64.
    pub(crate) code_sha256: String,
}

/// The package holding `files` (name, contents), in name order whatever order they are given.
pub(crate) fn package(files: &[(&str, &str)]) -> Result<Package, Error> {
    let failed = |e: &dyn std::fmt::Display| {
        Error::failed("internal: could not build a function's package").with_cause(e.to_string())
    };
    let mut sorted: Vec<&(&str, &str)> = files.iter().collect();
    sorted.sort_by_key(|(name, _)| *name);
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9))
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, contents) in sorted {
        writer.start_file(*name, options).map_err(|e| failed(&e))?;
        writer
            .write_all(contents.as_bytes())
            .map_err(|e| failed(&e))?;
    }
    let zip = writer.finish().map_err(|e| failed(&e))?.into_inner();
    let code_sha256 = aws_smithy_types::base64::encode(Sha256::digest(&zip));
    Ok(Package { zip, code_sha256 })
}

/// The list function's package.
pub(crate) fn list_dragons() -> Result<Package, Error> {
    package(&[("lambda_function.py", LIST_DRAGONS)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn a_package_is_the_same_bytes_every_time_and_in_any_order() {
        let first = list_dragons().expect("package");
        assert_eq!(first, list_dragons().expect("again"));
        let two = package(&[("b.py", "b"), ("a.py", "a")]).expect("two");
        assert_eq!(
            two,
            package(&[("a.py", "a"), ("b.py", "b")]).expect("sorted")
        );
        assert_ne!(two.code_sha256, first.code_sha256);
        // base64 of 32 bytes.
        assert_eq!(first.code_sha256.len(), 44);
    }

    /// Read back by Python's zipfile, as Lambda's runtime unpacks it: the handler module as the
    /// repository holds it, dated 1980-01-01, mode 0644, deflated; and the digest as Python
    /// computes it.
    #[test]
    fn python_reads_the_package_and_agrees_on_its_digest() {
        let built = list_dragons().expect("package");
        let path =
            std::env::temp_dir().join(format!("provision-package-{}.zip", std::process::id()));
        std::fs::write(&path, &built.zip).expect("write");
        let check = r#"
import base64, hashlib, json, sys, zipfile
path = sys.argv[1]
with zipfile.ZipFile(path) as z:
    entries = [(i.filename, i.date_time, (i.external_attr >> 16) & 0o777, i.compress_type) for i in z.infolist()]
    source = z.read("lambda_function.py").decode()
digest = base64.b64encode(hashlib.sha256(open(path, "rb").read()).digest()).decode()
print(json.dumps({"entries": entries, "source": source, "digest": digest}))
"#;
        let output = Command::new("python3")
            .args(["-c", check])
            .arg(&path)
            .output()
            .expect("python3 runs");
        let _ = std::fs::remove_file(&path);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let read: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
        assert_eq!(
            read["entries"],
            serde_json::json!([["lambda_function.py", [1980, 1, 1, 0, 0, 0], 0o644, 8]])
        );
        assert_eq!(read["source"], LIST_DRAGONS);
        assert_eq!(read["digest"], built.code_sha256.as_str());
    }
}
