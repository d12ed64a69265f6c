"""Calls boto3 for the Rust tests of the local emulator: one JSON request per input line
(`{"client": "s3", "method": "put_object", "params": {...}}`), one JSON answer per output line
(`{"ok": <response>}` or `{"error": {"code": ..., "message": ...}}`).

A parameter value `{"$zip": {"<name in the archive>": "<file path>"}}` becomes the bytes of a zip
archive of those files, executable (for Lambda's `ZipFile`).

The endpoint, region and credentials come from the environment (`AWS_ENDPOINT_URL`, ...), as
`cargo xtask local env` prints them.
"""

import datetime
import io
import json
import sys
import zipfile

import boto3
import botocore.exceptions
import botocore.response


def plain(value):
    """A response made JSON-serialisable: bodies read as text, dates as ISO 8601."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items() if key != "ResponseMetadata"}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, botocore.response.StreamingBody):
        return value.read().decode("utf-8")
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return value


def zipped(files):
    """A zip archive of `files` (name in the archive -> path), every member executable."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, path in files.items():
            member = zipfile.ZipInfo(name)
            member.external_attr = 0o755 << 16
            with open(path, "rb") as source:
                archive.writestr(member, source.read())
    return buffer.getvalue()


def materialised(value):
    """Request parameters with every `{"$zip": ...}` replaced by the archive's bytes."""
    if isinstance(value, dict):
        if set(value) == {"$zip"}:
            return zipped(value["$zip"])
        return {key: materialised(item) for key, item in value.items()}
    if isinstance(value, list):
        return [materialised(item) for item in value]
    return value


def main():
    session = boto3.session.Session()
    clients = {}
    for line in sys.stdin:
        request = json.loads(line)
        name = request["client"]
        if name not in clients:
            clients[name] = session.client(name)
        try:
            answer = {"ok": plain(getattr(clients[name], request["method"])(**materialised(request.get("params", {}))))}
        except botocore.exceptions.ClientError as error:
            answer = {"error": {"code": error.response["Error"].get("Code"), "message": str(error)}}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
