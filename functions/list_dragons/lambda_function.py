"""GET /dragons for the course's API (provision dragons-api): a Lambda function behind an API
Gateway REST API's Lambda proxy integration.

It reads the lab's data as the course's lab application does: the two String parameters
dragon_data_bucket_name and dragon_data_file_name (in APP_REGION, us-east-1 by default, as the
course's app.py; PARAMETER_PREFIX before their names for a class sharing one account), then the JSON
document in S3 with S3 Select, `select * from s3object s`. S3 Select is closed to AWS customers that
had not used it before July 2024 (they are answered 405 MethodNotAllowed): there the same object is
read with GetObject, and the log says which way it was read.

Answers: 200 with every dragon, or with the one of ?dragonName=NAME; 400 for a query it does not
understand; 404 for a dragon that is not there; 500 when the data cannot be read, the reason in the
function's log and not in the answer. Every answer carries CORS headers for the course's web page.
"""

import json
import logging
import os

import boto3
from botocore.exceptions import BotoCoreError, ClientError

logger = logging.getLogger()
logger.setLevel(logging.INFO)

APP_REGION = os.environ.get("APP_REGION", "us-east-1")
PARAMETER_PREFIX = os.environ.get("PARAMETER_PREFIX", "")
# The web page's origin; "*" by default, as the course's page is served from its own bucket.
ALLOW_ORIGIN = os.environ.get("ALLOW_ORIGIN", "*")
SELECT_EXPRESSION = "select * from s3object s"
# The query parameters GET /dragons understands, and the longest name it looks for.
QUERY_PARAMETERS = {"dragonName"}
LONGEST_NAME = 128

# Made once per execution environment, as Lambda's guide advises, and reused by every invocation.
s3 = boto3.client("s3", APP_REGION)
ssm = boto3.client("ssm", APP_REGION)


class DataUnavailable(Exception):
    """The lab's data could not be read; the reason goes to the log only."""


def answer(status, body):
    return {
        "statusCode": status,
        "headers": {
            "Content-Type": "application/json",
            "Access-Control-Allow-Origin": ALLOW_ORIGIN,
            "Access-Control-Allow-Methods": "GET,OPTIONS",
            "Access-Control-Allow-Headers": "Authorization,Content-Type",
        },
        "body": json.dumps(body),
    }


def location():
    """The bucket and key the two parameters name."""
    names = [PARAMETER_PREFIX + "dragon_data_bucket_name", PARAMETER_PREFIX + "dragon_data_file_name"]
    values = []
    for name in names:
        try:
            values.append(ssm.get_parameter(Name=name, WithDecryption=False)["Parameter"]["Value"])
        except (ClientError, BotoCoreError) as error:
            raise DataUnavailable("SSM parameter %s in %s: %s" % (name, APP_REGION, error))
    return values[0], values[1]


def selected(bucket, key):
    """The document's dragons by S3 Select; None where the account has no S3 Select."""
    try:
        result = s3.select_object_content(
            Bucket=bucket,
            Key=key,
            ExpressionType="SQL",
            Expression=SELECT_EXPRESSION,
            InputSerialization={"JSON": {"Type": "Document"}},
            OutputSerialization={"JSON": {}},
        )
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == "MethodNotAllowed" or status == 405:
            return None
        raise DataUnavailable("S3 Select of s3://%s/%s: %s" % (bucket, key, error))
    payload = b""
    for event in result["Payload"]:
        if "Records" in event:
            payload += event["Records"]["Payload"]
    dragons = []
    for line in payload.decode("utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            # Selecting * over a top-level array yields one record: {"_1": [...the dragons...]}.
            dragons.extend(record["_1"] if "_1" in record else [record])
    return dragons


def read_dragons():
    """Every dragon of the lab's document, and how it was read."""
    bucket, key = location()
    try:
        dragons = selected(bucket, key)
        method = "S3 Select"
        if dragons is None:
            method = "GetObject (S3 Select is not available to this account)"
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            dragons = json.loads(body)
    except (ClientError, BotoCoreError, ValueError) as error:
        raise DataUnavailable("reading s3://%s/%s: %s" % (bucket, key, error))
    if not isinstance(dragons, list):
        raise DataUnavailable("s3://%s/%s is not a JSON array" % (bucket, key))
    strange = [d for d in dragons if not (isinstance(d, dict) and "dragon_name_str" in d)]
    if strange:
        raise DataUnavailable(
            "s3://%s/%s holds %d records that are not dragons (read with %s), the first: %.200r"
            % (bucket, key, len(strange), method, strange[0])
        )
    logger.info("read %d dragons from s3://%s/%s with %s", len(dragons), bucket, key, method)
    return dragons


def lambda_handler(event, context):
    query = (event or {}).get("queryStringParameters") or {}
    unknown = sorted(set(query) - QUERY_PARAMETERS)
    if unknown:
        return answer(
            400,
            {"message": "unknown query parameter %s; GET /dragons takes ?dragonName=NAME" % unknown[0]},
        )
    name = query.get("dragonName")
    if name is not None and not (0 < len(name) <= LONGEST_NAME):
        return answer(400, {"message": "dragonName is 1 to %d characters" % LONGEST_NAME})
    try:
        dragons = read_dragons()
    except DataUnavailable as error:
        logger.error("the dragons cannot be read: %s", error)
        return answer(500, {"message": "the dragons cannot be read just now"})
    if name is None:
        return answer(200, dragons)
    found = [d for d in dragons if d.get("dragon_name_str") == name]
    if not found:
        return answer(404, {"message": "no dragon is named %s" % name})
    return answer(200, found)
