#!/usr/bin/env python3
"""The course's procedure as boto3 calls, sequential, in one process (the same calls as awscli.sh).
Expects AWS_* environment pointing at the emulator, INSTANCE_TAG and POLICY."""
import os
import pathlib
import sys

# This file is named boto3.py: without this its own directory would shadow the boto3 package.
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
import boto3  # noqa: E402

root = pathlib.Path(__file__).resolve().parents[2]
session = boto3.session.Session()
region = session.region_name
iam, ec2, s3, ssm, sts = (session.client(name) for name in ("iam", "ec2", "s3", "ssm", "sts"))
account = sts.get_caller_identity()["Account"]
bucket = f"dragons-lab-{account}-{region}"
trust = (root / "templates/ec2-trust-policy.json").read_text()
iam.create_role(RoleName="dragons-lab-ec2-role", Path="/provision/", AssumeRolePolicyDocument=trust)
iam.put_role_policy(RoleName="dragons-lab-ec2-role", PolicyName="provision-policy",
                    PolicyDocument=pathlib.Path(os.environ["POLICY"]).read_text())
iam.create_instance_profile(InstanceProfileName="dragons-lab-ec2-role", Path="/provision/")
iam.add_role_to_instance_profile(InstanceProfileName="dragons-lab-ec2-role", RoleName="dragons-lab-ec2-role")
reservations = ec2.describe_instances(Filters=[
    {"Name": "tag:Name", "Values": [os.environ["INSTANCE_TAG"]]},
    {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
])["Reservations"]
instance = reservations[0]["Instances"][0]["InstanceId"]
ec2.associate_iam_instance_profile(InstanceId=instance, IamInstanceProfile={"Name": "dragons-lab-ec2-role"})
if region == "us-east-1":
    s3.create_bucket(Bucket=bucket)
else:
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
    "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
s3.put_object(Bucket=bucket, Key="dragons.json", Body=(root / "data/dragons.json").read_bytes(),
              ContentType="application/json")
ssm.put_parameter(Name="dragon_data_bucket_name", Type="String", Value=bucket, Overwrite=True)
ssm.put_parameter(Name="dragon_data_file_name", Type="String", Value="dragons.json", Overwrite=True)
