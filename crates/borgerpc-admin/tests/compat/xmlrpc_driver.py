#!/usr/bin/env python3
"""Make XML-RPC calls the way legacy OS2borgerPC 2.x agents do.

The 2.x agents use the standard library client,
``xmlrpc.client.ServerProxy(url, allow_none=True)``, so this script does too.

Usage:
    xmlrpc_driver.py --url http://127.0.0.1:8080/admin-xml/ < calls.json

stdin is a JSON list of calls:
    [{"method": "register_new_computer",
      "params": ["aa:bb:cc:dd:ee:ff", "pc1", "ubuntu", "site1", {"k": "v"}]},
     {"method": "get_instructions", "params": ["<uid>"]}]

stdout gets one JSON line per call, in order:
    {"method": M, "result": R}                      success
    {"method": M, "fault": {"code": C, "string": S}} XML-RPC <fault>
    {"method": M, "error": "ExcType: message"}       transport/protocol error

Result conversion: xmlrpc DateTime -> its ISO 8601 string ("20261122T22:02:08"),
Binary -> base64 text, tuples -> lists, everything else as JSON.
Exit status: 0 once the input parsed (per-call failures are reported inline),
2 on bad input.
"""

import argparse
import base64
import json
import sys
import xmlrpc.client


def to_json(value):
    if isinstance(value, xmlrpc.client.DateTime):
        return value.value
    if isinstance(value, xmlrpc.client.Binary):
        return base64.b64encode(value.data).decode("ascii")
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return repr(value)


def do_call(url, method, params):
    # A fresh proxy per call: a failed call cannot poison the next one.
    proxy = xmlrpc.client.ServerProxy(url, allow_none=True)
    try:
        result = getattr(proxy, method)(*params)
        return {"method": method, "result": to_json(result)}
    except xmlrpc.client.Fault as fault:
        return {
            "method": method,
            "fault": {"code": fault.faultCode, "string": fault.faultString},
        }
    except xmlrpc.client.ProtocolError as exc:
        return {
            "method": method,
            "error": "ProtocolError: %s %s" % (exc.errcode, exc.errmsg),
            "status": exc.errcode,
        }
    except Exception as exc:
        return {"method": method, "error": "%s: %s" % (type(exc).__name__, exc)}
    finally:
        try:
            proxy("close")()
        except Exception:
            pass


def main(argv=None):
    parser = argparse.ArgumentParser(description="XML-RPC driver (legacy agents)")
    parser.add_argument("--url", required=True)
    args = parser.parse_args(argv)

    try:
        calls = json.load(sys.stdin)
        if not isinstance(calls, list):
            raise ValueError("stdin must be a JSON list")
        for c in calls:
            if not isinstance(c, dict) or not isinstance(c.get("method"), str):
                raise ValueError("each call needs a string 'method': %r" % (c,))
            if not isinstance(c.get("params", []), list):
                raise ValueError("'params' must be a list: %r" % (c,))
    except ValueError as exc:
        print("xmlrpc_driver: bad input: %s" % exc, file=sys.stderr)
        return 2

    for c in calls:
        out = do_call(args.url, c["method"], c.get("params", []))
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
