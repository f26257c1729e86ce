//! `provision dragons-lab`: the bucket, configured; the dragons data uploaded; the two SSM
//! parameters the lab application reads to find it; with `--site`, the lab web app.

use crate::cli::{DragonsLabArgs, GlobalArgs};
use crate::commands::{apply_and_report, print_plan, with_aws};
use crate::error::Error;
use crate::printer::Printer;
use crate::state::dragons_lab::{DesiredState, Inputs, Site, observe, plan};

pub(crate) async fn run(
    global: &GlobalArgs,
    args: &DragonsLabArgs,
    printer: &Printer,
) -> Result<(), Error> {
    let inputs = Inputs::from_args(args)?;
    with_aws(global, printer, false, async |aws| {
        let clients = aws.clients();
        let observing = printer.step("observing S3 and SSM");
        let (target, observed) = observe(aws, &clients, &inputs).await?;
        observing.finish("observed S3 and SSM");
        let desired = DesiredState::new(&inputs, &target);
        let plan = plan(&desired, &observed)?;
        print_plan(printer, &plan, &target);
        let bucket = &desired.bucket.name;
        let site_url = match &inputs.site {
            Site::Dir { files, .. } => {
                let page = if files.iter().any(|f| f.key == "index.html") {
                    "index.html"
                } else {
                    ""
                };
                Some(match &aws.endpoint {
                    Some(endpoint) => format!("{}/{bucket}/{page}", endpoint.trim_end_matches('/')),
                    None => format!("https://{bucket}.s3.{}.amazonaws.com/{page}", target.region),
                })
            }
            Site::None | Site::AsMade => None,
        };
        apply_and_report(
            printer,
            global,
            "dragons-lab",
            &plan,
            &target,
            &clients,
            site_url.as_deref(),
        )
        .await
    })
    .await
}
