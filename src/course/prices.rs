//! What an hour of the IDE costs, from a small table of on-demand prices for the types an IDE
//! uses (Linux, US East (N. Virginia) and US West (Oregon), which price these types alike), as
//! AWS's "Amazon EC2 On-Demand Pricing" page lists them on the date of [`PRICES_OF`]. Other
//! regions cost more or less; status says the table's region and date with every price. Storage
//! is billed whether the instance runs or not ("Amazon EBS pricing", gp3).

/// When the table was taken.
pub(crate) const PRICES_OF: &str = "2026-12";

/// The regions whose prices the table is.
const PRICED_REGIONS: &[&str] = &["us-east-1", "us-west-2"];

/// USD an hour, on demand, Linux.
const HOURLY_USD: &[(&str, f64)] = &[
    ("t3.nano", 0.0052),
    ("t3.micro", 0.0104),
    ("t3.small", 0.0208),
    ("t3.medium", 0.0416),
    ("t3.large", 0.0832),
    ("t3a.nano", 0.0047),
    ("t3a.micro", 0.0094),
    ("t3a.small", 0.0188),
    ("t3a.medium", 0.0376),
    ("t3a.large", 0.0752),
    ("t4g.nano", 0.0042),
    ("t4g.micro", 0.0084),
    ("t4g.small", 0.0168),
    ("t4g.medium", 0.0336),
    ("t4g.large", 0.0672),
    ("t2.micro", 0.0116),
    ("t2.small", 0.023),
    ("t2.medium", 0.0464),
    ("t2.large", 0.0928),
];

/// gp3 storage, USD per GiB-month.
const GP3_GIB_MONTH_USD: f64 = 0.08;

/// An hour of `instance_type` running, as status says it: `$0.0208 an hour running (us-east-1
/// on-demand, prices of 2026-12)`, or that the table does not have it.
pub(crate) fn hourly(instance_type: &str, region: &str) -> String {
    let Some((_, price)) = HOURLY_USD.iter().find(|(t, _)| *t == instance_type) else {
        return format!("{instance_type} is not in provision's price table");
    };
    let place = match PRICED_REGIONS.contains(&region) {
        true => format!("{region} on-demand"),
        false => format!("us-east-1 on-demand; {region} differs"),
    };
    format!("${price} an hour running ({place}, prices of {PRICES_OF})")
}

/// A month of a `gib` GiB gp3 volume, running or stopped: `$1.28 a month`.
pub(crate) fn volume_monthly(gib: i32) -> String {
    format!("${:.2} a month", f64::from(gib) * GP3_GIB_MONTH_USD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_type_is_priced_with_its_region_and_date() {
        assert_eq!(
            hourly("t3.small", "us-east-1"),
            "$0.0208 an hour running (us-east-1 on-demand, prices of 2026-12)"
        );
        assert!(hourly("t3.small", "eu-west-1").contains("us-east-1 on-demand; eu-west-1 differs"));
        assert_eq!(
            hourly("m5.large", "us-east-1"),
            "m5.large is not in provision's price table"
        );
        assert!(hourly(crate::settings::DEFAULT_IDE_TYPE, "us-west-2").starts_with('$'));
        assert_eq!(volume_monthly(16), "$1.28 a month");
    }
}
