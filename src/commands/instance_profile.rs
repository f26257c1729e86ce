//! `provision instance-profile`: the EC2 trust policy, an IAM role with its permissions, an instance
//! profile holding it, and its association with the course IDE's instance.

use crate::cli::{GlobalArgs, InstanceProfileArgs};
use crate::commands::{apply_and_report, print_plan, with_aws};
use crate::error::Error;
use crate::printer::Printer;
use crate::state::instance_profile::{DesiredState, Inputs, observe, plan};

pub(crate) async fn run(
    global: &GlobalArgs,
    args: &InstanceProfileArgs,
    printer: &Printer,
) -> Result<(), Error> {
    let inputs = Inputs::from_args(args)?;
    with_aws(global, printer, async |aws| {
        let clients = aws.clients();
        let observing = printer.step("observing IAM and EC2");
        let (target, observed) = observe(aws, &clients, &inputs).await?;
        observing.finish("observed IAM and EC2");
        let plan = plan(&DesiredState::new(&inputs, &target)?, &observed)?;
        print_plan(printer, &plan, &target);
        apply_and_report(
            printer,
            global,
            "instance-profile",
            &plan,
            &target,
            &clients,
            None,
        )
        .await
    })
    .await
}
