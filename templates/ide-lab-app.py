"""The Dragons lab's reader, written on the course IDE by `provision ide` as
~/environment/dragons/app.py: it reads the data exactly as the course's app.py does.

Both clients are fixed to us-east-1, whatever region you work in (the course's choice); the two
String parameters dragon_data_bucket_name and dragon_data_file_name name the bucket and the key,
and the document (one JSON array) is read with S3 Select, `select * from s3object s`. S3 Select is
closed to AWS customers that did not use it before July 2024 (they are answered 405
MethodNotAllowed): there the same object is read with GetObject instead, and the reader says so.

Run it on the IDE after `provision dragons-lab`:  python3 ~/environment/dragons/app.py
The credentials are the IDE's own (its instance profile): no keys are needed.
"""

import json
import sys

import boto3
from botocore.exceptions import ClientError

REGION = "us-east-1"

s3 = boto3.resource("s3", REGION).meta.client
ssm = boto3.client("ssm", REGION)


def parameter(name):
    return ssm.get_parameter(Name=name, WithDecryption=False)["Parameter"]["Value"]


def list_dragons(bucket, key):
    """The dragons, and how they were read."""
    try:
        result = s3.select_object_content(
            Bucket=bucket,
            Key=key,
            ExpressionType="SQL",
            Expression="select * from s3object s",
            InputSerialization={"JSON": {"Type": "Document"}},
            OutputSerialization={"JSON": {}},
        )
        payload = b""
        for event in result["Payload"]:
            if "Records" in event:
                payload += event["Records"]["Payload"]
        dragons = []
        for line in payload.decode().splitlines():
            if line.strip():
                record = json.loads(line)
                # Selecting * over a top-level array yields one record: {"_1": [...]}.
                dragons.extend(record["_1"] if "_1" in record else [record])
        return dragons, "S3 Select"
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code != "MethodNotAllowed" and status != 405:
            raise
        print(
            "S3 Select is not available to this account: reading the object with GetObject",
            file=sys.stderr,
        )
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return json.loads(body), "GetObject"


def main():
    try:
        bucket = parameter("dragon_data_bucket_name")
        key = parameter("dragon_data_file_name")
        dragons, method = list_dragons(bucket, key)
    except ClientError as error:
        sys.exit(
            "the lab's data cannot be read: %s\n"
            "hint: run `provision dragons-lab` (and `provision whoami` to see who you are)" % error
        )
    if "--json" in sys.argv[1:]:
        print(json.dumps({"bucket": bucket, "key": key, "method": method, "dragons": dragons}))
        return
    print("%d dragons in s3://%s/%s (read with %s)" % (len(dragons), bucket, key, method))
    for dragon in dragons:
        print(
            "  %-24s %-8s %s, %s"
            % (
                dragon.get("dragon_name_str", "?"),
                dragon.get("family_str", ""),
                dragon.get("location_city_str", ""),
                dragon.get("location_state_str", ""),
            )
        )


if __name__ == "__main__":
    main()
