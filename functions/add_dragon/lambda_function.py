"""The second task of the course's sighting workflow (provision dragons-report): adds a checked
report (validate_report's answer) to the lab's data document in S3, where the lab application and
GET /dragons read it.

Two reports at once must both be kept: the document is read with its ETag and written back only
if it is still that version (PutObject with If-Match, S3's conditional writes). When another
writer got there first S3 answers 412 PreconditionFailed (or 409 ConditionalRequestConflict while
a write to the key is in flight); the document is then read again and the dragon added to the new
version, up to ATTEMPTS times with a growing, jittered pause. A task Step Functions retries (its
answer lost) finds its dragon already there, identical, and answers the same again: adding is
idempotent. A different dragon of the same name added meanwhile is DragonExists; a document
still changing after every attempt is DataBusy (Step Functions may retry it); one that cannot be
read or written is DataUnavailable.

It answers {"added": the name, "dragons": how many the document holds now, "already": whether
the dragon was there already}.
"""

import json
import logging
import os
import random
import time

import boto3
from botocore.exceptions import BotoCoreError, ClientError

logger = logging.getLogger()
logger.setLevel(logging.INFO)

APP_REGION = os.environ.get("APP_REGION", "us-east-1")
PARAMETER_PREFIX = os.environ.get("PARAMETER_PREFIX", "")
ATTEMPTS = 8
# The first pause after a lost race, in seconds; each next one doubles, with jitter.
PAUSE = 0.05

s3 = boto3.client("s3", APP_REGION)
ssm = boto3.client("ssm", APP_REGION)


class DragonExists(Exception):
    """Another dragon of this name was added meanwhile."""


class DataBusy(Exception):
    """The document kept changing under every attempt."""


class DataUnavailable(Exception):
    """The lab's data could not be read or written."""


def location():
    """The bucket and key the two parameters name."""
    values = []
    for name in ("dragon_data_bucket_name", "dragon_data_file_name"):
        try:
            parameter = ssm.get_parameter(Name=PARAMETER_PREFIX + name, WithDecryption=False)
            values.append(parameter["Parameter"]["Value"])
        except (ClientError, BotoCoreError) as error:
            raise DataUnavailable("SSM parameter %s%s in %s: %s" % (PARAMETER_PREFIX, name, APP_REGION, error))
    return values[0], values[1]


def lost_race(error):
    """Whether a conditional PutObject failed because another write came first."""
    code = error.response.get("Error", {}).get("Code", "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412)


def lambda_handler(event, context):
    report = event
    name = report["dragon_name_str"]
    bucket, key = location()
    for attempt in range(1, ATTEMPTS + 1):
        try:
            current = s3.get_object(Bucket=bucket, Key=key)
            etag = current["ETag"]
            content_type = current.get("ContentType") or "application/json"
            metadata = current.get("Metadata") or {}
            dragons = json.loads(current["Body"].read())
        except (ClientError, BotoCoreError, ValueError) as error:
            raise DataUnavailable("reading s3://%s/%s: %s" % (bucket, key, error))
        if not isinstance(dragons, list):
            raise DataUnavailable("s3://%s/%s is not a JSON array" % (bucket, key))
        same_name = [d for d in dragons if isinstance(d, dict) and str(d.get("dragon_name_str", "")).casefold() == name.casefold()]
        if same_name:
            if any(d == report for d in same_name):
                logger.info("%s is already in s3://%s/%s", name, bucket, key)
                return {"added": name, "dragons": len(dragons), "already": True}
            raise DragonExists("a dragon named %s was added to the lab's data meanwhile" % name)
        dragons.append(report)
        body = json.dumps(dragons, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"
        try:
            s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                IfMatch=etag,
                ContentType=content_type,
                Metadata=metadata,
            )
        except ClientError as error:
            if not lost_race(error):
                raise DataUnavailable("writing s3://%s/%s: %s" % (bucket, key, error))
            pause = PAUSE * (2 ** (attempt - 1)) * (0.5 + random.random())
            logger.info(
                "s3://%s/%s changed since it was read (attempt %d of %d): reading it again in %.2f s",
                bucket, key, attempt, ATTEMPTS, pause,
            )
            time.sleep(pause)
            continue
        except BotoCoreError as error:
            raise DataUnavailable("writing s3://%s/%s: %s" % (bucket, key, error))
        logger.info("added %s to s3://%s/%s (%d dragons)", name, bucket, key, len(dragons))
        return {"added": name, "dragons": len(dragons), "already": False}
    raise DataBusy("s3://%s/%s changed under each of %d attempts" % (bucket, key, ATTEMPTS))
