"""The course's lab application's read, as the tests imitate it (see lab-app.md in the course
material): boto3 clients fixed to us-east-1, the two String parameters read with GetParameter
(WithDecryption=False), then S3 Select over the JSON document — or, with --get-object, the plain
GetObject that accounts without S3 Select use instead. With --prefix P it is the app as a course
whose students share one account changes it: reading P + each parameter name.

Credentials, the endpoint (a loopback emulator) and nothing else come from the environment the
test sets. Prints one JSON document: the bucket, the key, how it was read and the dragons' names.
"""

import json
import sys

import boto3

REGION = "us-east-1"


def main():
    args = sys.argv[1:]
    use_get_object = "--get-object" in args
    prefix = args[args.index("--prefix") + 1] if "--prefix" in args else ""
    # As app.py: both clients fixed to us-east-1, whatever region the student works in.
    s3 = boto3.resource("s3", REGION).meta.client
    ssm = boto3.client("ssm", REGION)
    bucket = ssm.get_parameter(Name=prefix + "dragon_data_bucket_name", WithDecryption=False)[
        "Parameter"
    ]["Value"]
    key = ssm.get_parameter(Name=prefix + "dragon_data_file_name", WithDecryption=False)[
        "Parameter"
    ]["Value"]

    if use_get_object:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        dragons = json.loads(body)
    else:
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
        # Selecting * over a top-level array yields one record: {"_1": [...the dragons...]}.
        records = [json.loads(line) for line in payload.decode().splitlines() if line.strip()]
        dragons = []
        for record in records:
            dragons.extend(record["_1"] if "_1" in record else [record])

    strange = [d for d in dragons if not (isinstance(d, dict) and "dragon_name_str" in d)]
    if strange:
        sys.exit("records that are not dragons: %r" % (strange[:3],))
    print(
        json.dumps(
            {
                "bucket": bucket,
                "key": key,
                "method": "GetObject" if use_get_object else "SelectObjectContent",
                "names": [d["dragon_name_str"] for d in dragons],
            }
        )
    )


if __name__ == "__main__":
    main()
