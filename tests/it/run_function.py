"""Runs a Lambda function's handler here, as Lambda would run it, for tests that cannot run it on
moto (moto runs no function without Docker): loads the module from its file, calls HANDLER with the
event given as JSON (its third argument) and a stand-in context, and prints one JSON document: the
answer ("result") or, when the handler raised, the error as Lambda reports it ("error":
errorType, the exception's class name, which Step Functions' Catch matches, and errorMessage),
and the function's log lines. Credentials and the endpoint (a loopback emulator) come from the
environment the test sets.

Usage: run_function.py FILE HANDLER EVENT_JSON
"""

import importlib.util
import io
import json
import logging
import sys


def main():
    path, handler = sys.argv[1], sys.argv[2]
    log = io.StringIO()
    # Lambda's Python runtime gives the root logger a handler; the function sets its level.
    logging.basicConfig(stream=log, format="%(levelname)s %(message)s")
    spec = importlib.util.spec_from_file_location("function", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    event = json.loads(sys.argv[3])
    try:
        outcome = {"result": getattr(module, handler)(event, None)}
    except Exception as error:  # what Lambda's runtime catches and reports
        outcome = {"error": {"errorType": type(error).__name__, "errorMessage": str(error)}}
    print(json.dumps({**outcome, "log": log.getvalue().splitlines()}))


if __name__ == "__main__":
    main()
