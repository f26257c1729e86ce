#!/usr/bin/env bash
# The course's procedure as AWS CLI commands (instance profile, then the Dragons lab), with the same
# inline policy provision uses. Expects AWS_* environment pointing at the emulator, AWS (the aws
# binary), INSTANCE_TAG (Name value) and POLICY (the rendered inline policy file).
set -euo pipefail
aws="${AWS:-aws}"
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
account=$("$aws" sts get-caller-identity --query Account --output text)
bucket="dragons-lab-$account-$AWS_REGION"
"$aws" iam create-role --role-name dragons-lab-ec2-role --path /provision/ \
  --assume-role-policy-document "file://$dir/../../templates/ec2-trust-policy.json" >/dev/null
"$aws" iam put-role-policy --role-name dragons-lab-ec2-role --policy-name provision-policy \
  --policy-document "file://$POLICY"
"$aws" iam create-instance-profile --instance-profile-name dragons-lab-ec2-role --path /provision/ >/dev/null
"$aws" iam add-role-to-instance-profile --instance-profile-name dragons-lab-ec2-role --role-name dragons-lab-ec2-role
instance=$("$aws" ec2 describe-instances --filters "Name=tag:Name,Values=$INSTANCE_TAG" \
  "Name=instance-state-name,Values=pending,running,stopping,stopped" \
  --query 'Reservations[0].Instances[0].InstanceId' --output text)
"$aws" ec2 associate-iam-instance-profile --instance-id "$instance" \
  --iam-instance-profile Name=dragons-lab-ec2-role >/dev/null
"$aws" s3 mb "s3://$bucket" >/dev/null
"$aws" s3api put-bucket-ownership-controls --bucket "$bucket" \
  --ownership-controls 'Rules=[{ObjectOwnership=BucketOwnerPreferred}]'
"$aws" s3api put-public-access-block --bucket "$bucket" --public-access-block-configuration \
  BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
"$aws" s3 cp "$dir/../../data/dragons.json" "s3://$bucket/dragons.json" --content-type application/json >/dev/null
"$aws" ssm put-parameter --name dragon_data_bucket_name --type String --value "$bucket" --overwrite >/dev/null
"$aws" ssm put-parameter --name dragon_data_file_name --type String --value dragons.json --overwrite >/dev/null
