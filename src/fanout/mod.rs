//! One command over many accounts: `--accounts FILE` (account ids, role ARNs or profile names) or
//! `--org` (the organisation's active accounts). For each account provision assumes a role in it
//! (session `provision-<caller>`) and runs the command's own observe → plan → apply with that
//! account's clients — several accounts at once (`--concurrency`), each within
//! `--account-timeout`, one account's failure never stopping the others. The result is a line per
//! account while running, then a table (or one JSON document with an entry per account), the
//! failures with their errors and hints, and the command that re-runs only the failed accounts.

mod accounts;
mod report;
mod runner;

pub(crate) use accounts::*;
pub(crate) use report::*;
pub(crate) use runner::*;

/// Whether a command runs in every account of `--accounts` / `--org`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// Once per account, with a report of every account's outcome.
    EachAccount,
    /// In one account only: why, and what to do instead.
    OneAccount {
        why: &'static str,
        hint: Option<&'static str>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accounts_file_holds_ids_role_arns_and_profiles() {
        let text = "# the class of 2026\n111111111111\n\
                    arn:aws:iam::222222222222:role/course/Admin  # an instructor role\n\
                    \n  student-3  \n";
        let accounts = parse(text, "accounts.txt").expect("parses");
        assert_eq!(
            accounts.iter().map(|a| a.entry.clone()).collect::<Vec<_>>(),
            [
                Entry::Id("111111111111".into()),
                Entry::Role {
                    arn: "arn:aws:iam::222222222222:role/course/Admin".into(),
                    account: "222222222222".into()
                },
                Entry::Profile("student-3".into()),
            ]
        );
    }

    #[test]
    fn a_bad_line_is_named_before_any_request() {
        for (text, why) in [
            (
                "111111111111\n111111111111\n",
                "line 2: 111111111111 is listed twice",
            ),
            (
                "111111111111\narn:aws:iam::222222222222:role/Admin\narn:aws:iam::222222222222:role/Other\n",
                "line 3: 222222222222 is listed twice",
            ),
            (
                "arn:aws:s3:::bucket\n",
                "line 1: `arn:aws:s3:::bucket` is not an IAM role ARN",
            ),
            ("12345\n", "line 1: `12345` is not an account id"),
            ("student one\n", "line 1: `student one` is neither"),
            (
                "1111111111ab\n",
                "line 1: `1111111111ab` looks like an account id",
            ),
            (
                "1111-2222-3333\n",
                "line 1: `1111-2222-3333` looks like an account id",
            ),
            ("# nothing\n\n", "lists no account"),
        ] {
            let error = parse(text, "accounts.txt").expect_err(text);
            assert!(error.message().contains(why), "{text:?}: {error}");
            assert_eq!(error.status(), crate::error::ExitStatus::Usage);
        }
    }

    /// A 1 MiB line is quoted a screenful long, not whole.
    #[test]
    fn a_long_line_is_quoted_at_most_a_screenful() {
        let text = format!("{}\n", "x y".repeat(350_000));
        let error = parse(&text, "accounts.txt").expect_err("not an entry");
        assert!(
            error.message().len() < 400,
            "{} bytes",
            error.message().len()
        );
        assert!(
            error.message().contains("more characters"),
            "{}",
            &error.message()[..200]
        );
    }

    #[test]
    fn the_session_is_named_after_the_caller() {
        assert_eq!(
            session_name("arn:aws:iam::111111111111:user/teachers/ada"),
            "provision-ada"
        );
        assert_eq!(
            session_name("arn:aws:sts::111111111111:assumed-role/Admin/ada@example.edu"),
            "provision-ada@example.edu"
        );
        assert_eq!(
            session_name(&format!("arn:aws:iam::1:user/{}", "x".repeat(80))).len(),
            64
        );
    }
}
