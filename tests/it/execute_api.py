"""The test bed's API Gateway data plane: answers a call to a deployed REST API's invoke URL as
API Gateway does, where moto does not (moto ignores AWS_PROXY integrations when a deployed URL is
called, stores authorizers without enforcing them, and runs no Lambda function without Docker).

The proxy (proxy.rs) hands it one request on stdin, as JSON:
  {"endpoint": moto's URL, "api": {"id", "access_key", "region"}, "stage", "path", "method",
   "query": {name: value}, "headers": {lower-case name: value},
   "packages": [the base64 zips uploaded through the test bed], "runner": run_function.py}
and it prints the answer, as JSON: {"status", "headers", "body", "log"}.

What it does, in API Gateway's order ("Control access to a REST API using Amazon Cognito user
pools as an authorizer", "Set up Lambda proxy integrations in API Gateway", "Grant API Gateway
permission to invoke a Lambda function", API Gateway Developer Guide; the answers are API
Gateway's documented gateway responses: MISSING_AUTHENTICATION_TOKEN 403, UNAUTHORIZED 401,
EXPIRED_TOKEN 401, AUTHORIZER_CONFIGURATION_ERROR 500, INTEGRATION_FAILURE 500 / 502,
INTEGRATION_TIMEOUT 504):
  1. the stage must exist and serve a deployment, and the path a method (else 403);
  2. a COGNITO_USER_POOLS method wants, in its identity source's header, an ID token signed by
     one of the authorizer's pools, issued for one of the pool's app clients, not expired (else
     401); its claims reach the function as requestContext.authorizer.claims;
  3. the integration must be AWS_PROXY to a Lambda function, whose resource policy must allow
     apigateway.amazonaws.com with a SourceArn matching this call's execute-api ARN (else 500,
     "Execution failed due to configuration error: Invalid permissions on Lambda function");
  4. the function's code (its CodeSha256's package) runs with run_function.py, as its execution
     role (credentials from AssumeRole), with its environment variables, for at most its timeout
     and at most 29 s (else 504); an answer without a statusCode, or a function that raised, is
     502.
The API is served as it is now: AWS serves a stage's deployment snapshot, moto keeps none.
"""

import base64
import fnmatch
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile

import boto3
from moto.utilities.utils import load_resource
from botocore.exceptions import ClientError
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

INTEGRATION_TIMEOUT = 29


def gateway(status, message, log=()):
    return {
        "status": status,
        "headers": {"Content-Type": "application/json", "x-amzn-ErrorType": "Gateway"},
        "body": json.dumps({"message": message}),
        "log": list(log),
    }


def main():
    request = json.load(sys.stdin)
    print(json.dumps(answer(request)))


def answer(request):
    api = request["api"]
    session = boto3.Session(
        aws_access_key_id=api["access_key"],
        aws_secret_access_key="test-bed",
        region_name=api["region"],
    )
    endpoint = request["endpoint"]

    def client(name):
        return session.client(name, endpoint_url=endpoint)

    apigateway = client("apigateway")
    api_id, stage = api["id"], request["stage"]
    try:
        deployed = apigateway.get_stage(restApiId=api_id, stageName=stage)
    except ClientError:
        return gateway(403, "Forbidden")
    if not deployed.get("deploymentId"):
        return gateway(403, "Forbidden")
    resources = apigateway.get_resources(restApiId=api_id, limit=500)["items"]
    resource = next((r for r in resources if r.get("path") == "/" + request["path"]), None)
    if resource is None or request["method"] not in resource.get("resourceMethods", {}):
        return gateway(403, "Missing Authentication Token")
    method = apigateway.get_method(
        restApiId=api_id, resourceId=resource["id"], httpMethod=request["method"]
    )
    account = client("sts").get_caller_identity()["Account"]

    claims = None
    if method.get("authorizationType") == "COGNITO_USER_POOLS":
        authorizer = apigateway.get_authorizer(
            restApiId=api_id, authorizerId=method["authorizerId"]
        )
        claims, refusal = verified(client("cognito-idp"), authorizer, request["headers"], api["region"])
        if refusal:
            return refusal
    elif method.get("authorizationType") not in (None, "NONE"):
        return gateway(500, "the test bed emulates NONE and COGNITO_USER_POOLS authorizers only")

    integration = method.get("methodIntegration") or {}
    if integration.get("type") != "AWS_PROXY" or ":lambda:path/" not in integration.get("uri", ""):
        return gateway(500, "Internal server error", ["the test bed emulates Lambda proxy integrations only"])
    function_arn = integration["uri"].split("/functions/")[1].split("/invocations")[0]
    lam = client("lambda")
    source_arn = f"arn:aws:execute-api:{api['region']}:{account}:{api_id}/{stage}/{request['method']}/{request['path']}"
    if not permitted(lam, function_arn, source_arn):
        return gateway(
            500,
            "Internal server error",
            ["Execution failed due to configuration error: Invalid permissions on Lambda function"],
        )
    return invoke(request, session, lam, function_arn, {
        "resource": resource["path"],
        "path": resource["path"],
        "httpMethod": request["method"],
        "headers": request["headers"],
        "multiValueHeaders": {k: [v] for k, v in request["headers"].items()},
        "queryStringParameters": request["query"] or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in request["query"].items()} or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": account,
            "apiId": api_id,
            "stage": stage,
            "resourceId": resource["id"],
            "resourcePath": resource["path"],
            "httpMethod": request["method"],
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": "127.0.0.1", "userAgent": request["headers"].get("user-agent")},
            "authorizer": {"claims": claims} if claims is not None else None,
        },
        "body": None,
        "isBase64Encoded": False,
    })


def verified(cognito, authorizer, headers, region):
    """The token's claims, or the answer refusing it."""
    source = authorizer.get("identitySource", "method.request.header.Authorization")
    header = source.rsplit(".", 1)[-1].lower()
    token = headers.get(header)
    if not token:
        return None, gateway(401, "Unauthorized")
    if token.lower().startswith("bearer "):
        token = token[len("bearer "):]
    # moto signs every pool's tokens with the one key it ships; its public half is what a pool's
    # /.well-known/jwks.json serves, and what API Gateway checks the signature with.
    private = load_resource("cognitoidp/resources/jwks-private.json")
    public = RSAKey.import_key(RSAKey.import_key(private).as_dict(private=False))
    try:
        claims = jwt.decode(token, public).claims
    except (JoseError, ValueError):
        return None, gateway(401, "Unauthorized")
    for pool_arn in authorizer.get("providerARNs", []):
        pool_id = pool_arn.split("/")[-1]
        if claims.get("iss") != f"https://cognito-idp.{region}.amazonaws.com/{pool_id}":
            continue
        clients = cognito.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
        audience = claims.get("aud") if claims.get("token_use") == "id" else claims.get("client_id")
        if audience not in {c["ClientId"] for c in clients}:
            return None, gateway(401, "Unauthorized")
        if claims.get("exp", 0) <= time.time():
            return None, gateway(401, "The incoming token has expired")
        return {k: str(v) for k, v in claims.items()}, None
    return None, gateway(401, "Unauthorized")


def permitted(lam, function_arn, source_arn):
    """Whether the function's resource policy lets API Gateway invoke it for this call."""
    try:
        policy = json.loads(lam.get_policy(FunctionName=function_arn)["Policy"])
    except ClientError:
        return False
    for statement in policy.get("Statement", []):
        principal = statement.get("Principal")
        service = principal.get("Service") if isinstance(principal, dict) else principal
        actions = statement.get("Action")
        actions = [actions] if isinstance(actions, str) else actions or []
        if statement.get("Effect") != "Allow" or service != "apigateway.amazonaws.com":
            continue
        if not {"lambda:InvokeFunction", "lambda:*"} & set(actions):
            continue
        condition = statement.get("Condition", {})
        patterns = [
            v for test in ("ArnLike", "StringLike", "ArnEquals", "StringEquals")
            for v in [condition.get(test, {}).get("AWS:SourceArn")] if v
        ]
        if not condition or any(fnmatch.fnmatchcase(source_arn, p) for p in patterns):
            return True
    return False


def invoke(request, session, lam, function_arn, event):
    configuration = lam.get_function(FunctionName=function_arn)["Configuration"]
    digest = configuration["CodeSha256"]
    package = next(
        (
            base64.b64decode(p) for p in request["packages"]
            if base64.b64encode(hashlib.sha256(base64.b64decode(p)).digest()).decode() == digest
        ),
        None,
    )
    if package is None:
        return gateway(502, "Internal server error", [f"no package with CodeSha256 {digest} went through the test bed"])
    module, handler = configuration["Handler"].rsplit(".", 1)
    credentials = session.client("sts", endpoint_url=request["endpoint"]).assume_role(
        RoleArn=configuration["Role"], RoleSessionName=configuration["FunctionName"]
    )["Credentials"]
    timeout = min(configuration.get("Timeout", 3), INTEGRATION_TIMEOUT)
    with tempfile.TemporaryDirectory() as code:
        with zipfile.ZipFile(io.BytesIO(package)) as archive:
            archive.extractall(code)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": code,
            **configuration.get("Environment", {}).get("Variables", {}),
            "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
            "AWS_SESSION_TOKEN": credentials["SessionToken"],
            "AWS_REGION": session.region_name,
            "AWS_DEFAULT_REGION": session.region_name,
            "AWS_ENDPOINT_URL": request["endpoint"],
            "AWS_LAMBDA_FUNCTION_NAME": configuration["FunctionName"],
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        try:
            run = subprocess.run(
                [sys.executable, request["runner"], f"{code}/{module}.py", handler, json.dumps(event)],
                env=env, cwd=code, capture_output=True, text=True, timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return gateway(504, "Endpoint request timed out", [f"Task timed out after {timeout} seconds"])
    if run.returncode != 0:
        return gateway(502, "Internal server error", run.stderr.splitlines()[-20:])
    ran = json.loads(run.stdout)
    if "error" in ran:
        # A function error under a proxy integration is API Gateway's 502.
        return gateway(502, "Internal server error", [json.dumps(ran["error"]), *ran["log"]])
    result = ran["result"]
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
        return gateway(502, "Internal server error", ["Malformed Lambda proxy response", *ran["log"]])
    body = result.get("body") or ""
    if result.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    return {
        "status": result["statusCode"],
        "headers": result.get("headers") or {},
        "body": body,
        "log": ran["log"],
    }


if __name__ == "__main__":
    main()
