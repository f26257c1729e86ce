//! The credentials and the connection to AWS: the shared config and credentials files
//! (`profiles`), how credentials are found and what they are (`credentials`, `chain`), MFA
//! sessions (`mfa`), the connection and its clients (`aws`). The bounds on every request are
//! `requests`'. Nothing here knows the course.

pub(crate) mod aws;
pub(crate) mod chain;
pub(crate) mod clients;
pub(crate) mod credentials;
pub(crate) mod denials;
pub(crate) mod mfa;
pub(crate) mod profiles;
pub(crate) mod sources;
