"""The first task of the course's sighting workflow (provision dragons-report): checks a reported
dragon before anything is written.

A Step Functions task calls it with the report, the body of POST /dragons: one JSON object with
exactly the fields of the lab's records, each of its type —

  dragon_name_str, family_str, description_str, location_city_str, location_state_str,
  location_country_str, location_neighborhood_str: text, 1 to the field's length limit, no
  control characters (family_str: letters only, as the lab's red/blue/green/black);
  damage_int, protection_int: whole numbers from 1 to 10 (not true/false, not 7.0).

It answers the report as it will be stored (text trimmed, family in lower case), or fails with an
error Step Functions' Catch tells apart by name: ReportInvalid (what is wrong, every field that
is) or DragonExists (the lab's data already has a dragon of that name, in any case). The data is
read where the lab application reads it: the two dragon_data_* parameters in APP_REGION
(PARAMETER_PREFIX before their names for a class sharing one account), then the JSON document.
A failure to read the data is DataUnavailable (Step Functions may retry it).
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

# Each text field and its longest value.
TEXT_FIELDS = {
    "dragon_name_str": 128,
    "family_str": 32,
    "description_str": 1000,
    "location_city_str": 100,
    "location_state_str": 100,
    "location_country_str": 100,
    "location_neighborhood_str": 100,
}
NUMBER_FIELDS = ("damage_int", "protection_int")
LOWEST, HIGHEST = 1, 10

s3 = boto3.client("s3", APP_REGION)
ssm = boto3.client("ssm", APP_REGION)


class ReportInvalid(Exception):
    """The report is not a dragon the lab can store."""


class DragonExists(Exception):
    """The lab's data already has a dragon of the report's name."""


class DataUnavailable(Exception):
    """The lab's data could not be read."""


def problems(report):
    """Every way `report` is not a dragon the lab can store, in field order."""
    if not isinstance(report, dict):
        return ["the report is a JSON object, not %s" % type(report).__name__]
    found = []
    unknown = sorted(set(report) - set(TEXT_FIELDS) - set(NUMBER_FIELDS))
    if unknown:
        found.append("unknown fields: %s" % ", ".join(unknown))
    for field, longest in TEXT_FIELDS.items():
        value = report.get(field)
        if value is None:
            found.append("%s is missing" % field)
        elif not isinstance(value, str):
            found.append("%s is text, not %s" % (field, type(value).__name__))
        elif not 1 <= len(value.strip()) <= longest:
            found.append("%s is 1 to %d characters" % (field, longest))
        elif any(ord(c) < 32 or ord(c) == 127 for c in value):
            found.append("%s holds a control character" % field)
        elif field == "family_str" and not value.strip().isalpha():
            found.append("family_str is one word of letters (red, blue, green, black, ...)")
    for field in NUMBER_FIELDS:
        value = report.get(field)
        if value is None:
            found.append("%s is missing" % field)
        elif isinstance(value, bool) or not isinstance(value, int):
            found.append("%s is a whole number, not %s" % (field, json.dumps(value)))
        elif not LOWEST <= value <= HIGHEST:
            found.append("%s is from %d to %d, not %d" % (field, LOWEST, HIGHEST, value))
    return found


def normalised(report):
    stored = {field: report[field].strip() for field in TEXT_FIELDS}
    stored["family_str"] = stored["family_str"].lower()
    stored.update({field: report[field] for field in NUMBER_FIELDS})
    return dict(sorted(stored.items()))


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


def known_names():
    bucket, key = location()
    try:
        dragons = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except (ClientError, BotoCoreError, ValueError) as error:
        raise DataUnavailable("reading s3://%s/%s: %s" % (bucket, key, error))
    if not isinstance(dragons, list):
        raise DataUnavailable("s3://%s/%s is not a JSON array" % (bucket, key))
    return {d["dragon_name_str"].casefold() for d in dragons if isinstance(d, dict) and isinstance(d.get("dragon_name_str"), str)}


def lambda_handler(event, context):
    found = problems(event)
    if found:
        logger.info("report refused: %s", "; ".join(found))
        raise ReportInvalid("; ".join(found))
    report = normalised(event)
    name = report["dragon_name_str"]
    if name.casefold() in known_names():
        logger.info("report refused: %s is already a dragon of the lab", name)
        raise DragonExists("a dragon named %s is already in the lab's data" % name)
    logger.info("report of %s accepted", name)
    return report
