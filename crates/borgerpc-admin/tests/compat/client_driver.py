#!/usr/bin/env python3
"""Drive the real, unmodified OS2borgerPC agent (os2borgerpc-client 3.2.0)
without root, with all of its files below a root directory, and record every
HTTP request it makes.

Run it with the python of a venv that has os2borgerpc-client installed
(see setup_venv.sh):

    client_driver.py --root DIR [--log FILE] register NAME SITE MAC
    client_driver.py --root DIR [--log FILE] checkin
    client_driver.py --root DIR [--log FILE] set-config KEY VALUE
    client_driver.py --root DIR [--log FILE] get-config

Only module-level paths and two host-touching functions are patched; all
protocol logic (request bodies, reply handling, job execution, config sync,
security scripts) is the installed client's own code.

Paths under DIR (the client's hard-coded path, prefixed with DIR):
    etc/os2borgerpc/os2borgerpc.conf        config (etc/bibos/bibos.conf fallback)
    etc/os2borgerpc/client-key.key          client key
    var/lib/os2borgerpc/jobs/               jobs (+ running, running.pid lock)
    etc/os2borgerpc/security/               s_* scripts, securityevent.csv,
                                            lastcheck.txt, security_log.txt
    var/lib/apt/periodic/unattended-upgrades-stamp       } read by the client for
    etc/apt/apt.conf.d/90os2borgerpc-automatic-upgrades  } _last_*_update_time
    etc/hosts, etc/hostname                 (only reachable if sethostname worked)

socket.sethostname is replaced (inside the jobmanager only) by a function that
records {"kind":"sethostname","hostname":...} in the log and raises
PermissionError, exactly what an unprivileged client experiences; so the host
name is never changed even when the driver runs as root.

BPC_ROOT=DIR is exported so jobs and security scripts (which inherit the
environment) can write e.g. "${BPC_ROOT}/etc/os2borgerpc/security/securityevent.csv".

Request log (--log, JSON lines, appended, flushed per line):
    {"kind":"post","url":U,"endpoint":E,"body":B,"status":S,"response":T}
    {"kind":"get","url":U,"status":S}
On a transport error "status" is null and "error" holds "ExcType: message";
the exception is re-raised unchanged so the client's own handling runs.
"""

import argparse
import builtins
import json
import os
import socket
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

# Host paths that the client reads/writes directly; redirected below --root.
_HOST_PATHS = (
    "/var/lib/apt/periodic/unattended-upgrades-stamp",
    "/etc/apt/apt.conf.d/90os2borgerpc-automatic-upgrades",
    "/etc/hosts",
    "/etc/hostname",
)


class RequestLog:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()

    def write(self, entry):
        if not self.path:
            return
        line = json.dumps(entry, ensure_ascii=False, default=repr)
        with self.lock:
            with builtins.open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
                fh.flush()


def _endpoint(url):
    path = urllib.parse.urlparse(url).path
    return path.rstrip("/").rsplit("/", 1)[-1]


def _json_copy(value):
    """Snapshot a body as it is at request time (the client mutates dicts)."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return repr(value)


def install_request_logging(log):
    import requests

    real_post = requests.post

    def logged_post(url, data=None, json=None, **kwargs):
        entry = {
            "kind": "post",
            "url": url,
            "endpoint": _endpoint(url),
            "body": _json_copy(json) if json is not None else data,
        }
        try:
            response = real_post(url, data=data, json=json, **kwargs)
        except BaseException as exc:
            entry["status"] = None
            entry["error"] = "%s: %s" % (type(exc).__name__, exc)
            log.write(entry)
            raise
        entry["status"] = response.status_code
        try:
            entry["response"] = response.text
        except Exception:  # pragma: no cover - undecodable body
            entry["response"] = None
        log.write(entry)
        return response

    # admin_client does `import requests` and calls `requests.post(...)` at
    # call time, so replacing the module attribute is enough.
    requests.post = logged_post

    real_urlopen = urllib.request.urlopen

    def logged_urlopen(url, *args, **kwargs):
        full_url = url.full_url if isinstance(url, urllib.request.Request) else url
        entry = {"kind": "get", "url": full_url}
        try:
            response = real_urlopen(url, *args, **kwargs)
        except urllib.error.HTTPError as exc:
            entry["status"] = exc.code
            entry["error"] = "%s: %s" % (type(exc).__name__, exc)
            log.write(entry)
            raise
        except BaseException as exc:
            entry["status"] = None
            entry["error"] = "%s: %s" % (type(exc).__name__, exc)
            log.write(entry)
            raise
        entry["status"] = getattr(response, "status", None)
        log.write(entry)
        return response

    # jobmanager does `import urllib.request` and calls
    # `urllib.request.urlopen(...)` at call time.
    urllib.request.urlopen = logged_urlopen


def patch_client_paths(root, log):
    """Move every hard-coded client path below root (research doc §5.2)."""
    from os2borgerpc.client import admin_client, config, jobmanager
    from os2borgerpc.client.security import security

    etc = os.path.join(root, "etc", "os2borgerpc")

    # The list object itself is the default argument of every config
    # function, so it must be mutated in place.
    config.DEFAULT_CONFIG_FILES[:] = [
        os.path.join(etc, "os2borgerpc.conf"),
        os.path.join(root, "etc", "bibos", "bibos.conf"),
    ]

    key_path = os.path.join(etc, "client-key.key")
    # __init__ assigns self.etc_client_key_path = "/etc/..."; a data
    # descriptor on the class wins over that assignment.
    admin_client.OS2borgerPCAdmin.etc_client_key_path = property(
        lambda self: key_path, lambda self, value: None
    )

    jobmanager.JOBS_DIR = os.path.join(root, "var", "lib", "os2borgerpc", "jobs")
    jobmanager.LOCK_FILE = os.path.join(jobmanager.JOBS_DIR, "running")

    sec = Path(etc) / "security"
    security.SECURITY_DIR = sec
    security.LAST_SECURITY_EVENTS_CHECKED_TIME = sec / "lastcheck.txt"
    security.SECURITY_EVENT_FILE = sec / "securityevent.csv"
    security.SECURITY_SCRIPTS_LOG_FILE = sec / "security_log.txt"

    # Host files the jobmanager touches directly (apt stamps, hostname).
    mapping = {p: os.path.join(root, p.lstrip("/")) for p in _HOST_PATHS}

    def remap(path):
        if isinstance(path, (str, os.PathLike)):
            return mapping.get(os.fspath(path), path)
        return path

    real_os = os

    class _PathProxy:
        def __getattr__(self, name):
            return getattr(real_os.path, name)

        def isfile(self, path):
            return real_os.path.isfile(remap(path))

        def exists(self, path):
            return real_os.path.exists(remap(path))

    class _OsProxy:
        path = _PathProxy()

        def __getattr__(self, name):
            return getattr(real_os, name)

    jobmanager.os = _OsProxy()
    jobmanager.os_stat = lambda path, *a, **kw: real_os.stat(remap(path), *a, **kw)
    # A module global named `open` shadows the builtin inside jobmanager only.
    jobmanager.open = lambda file, *a, **kw: builtins.open(remap(file), *a, **kw)

    class _SocketProxy:
        def __getattr__(self, name):
            return getattr(socket, name)

        @staticmethod
        def sethostname(name):
            log.write({"kind": "sethostname", "hostname": name})
            raise PermissionError(
                1, "Operation not permitted (sethostname disabled by compat driver)"
            )

    jobmanager.socket = _SocketProxy()


def ensure_hostname(config_module):
    """Make the local config hostname the host's own, unless already set."""
    conf = config_module.OS2borgerPCConfig()
    try:
        conf.get_value("hostname")
    except (KeyError, TypeError):
        conf.set_value("hostname", socket.gethostname())
        conf.save()


def find_register_script():
    override = os.environ.get("BPC_REGISTER_SCRIPT")
    if override:
        return override
    try:
        from importlib import metadata

        dist = metadata.distribution("os2borgerpc-client")
        for f in dist.files or []:
            if f.name == "os2borgerpc_register_in_admin":
                p = f.locate()
                if os.path.isfile(p):
                    return os.path.realpath(p)
    except Exception:
        pass
    candidate = os.path.join(sys.prefix, "bin", "os2borgerpc_register_in_admin")
    if os.path.isfile(candidate):
        return candidate
    sys.exit("client_driver: cannot find os2borgerpc_register_in_admin")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True, help="fake filesystem root")
    parser.add_argument("--log", default=None, help="JSON-lines request log")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("register")
    p.add_argument("name")
    p.add_argument("site")
    p.add_argument("mac")
    sub.add_parser("checkin")
    p = sub.add_parser("set-config")
    p.add_argument("key")
    p.add_argument("value")
    sub.add_parser("get-config")
    args = parser.parse_args(argv)

    root = os.path.abspath(args.root)
    os.environ["BPC_ROOT"] = root
    os.makedirs(os.path.join(root, "etc", "os2borgerpc"), exist_ok=True)
    log = RequestLog(os.path.abspath(args.log) if args.log else None)

    install_request_logging(log)
    patch_client_paths(root, log)

    from os2borgerpc.client import config

    if args.cmd == "set-config":
        config.set_config(args.key, args.value)
        return 0

    if args.cmd == "get-config":
        data = config.OS2borgerPCConfig().get_data()
        print(json.dumps(data, sort_keys=True, ensure_ascii=False, default=str))
        return 0

    if args.cmd == "register":
        import runpy

        ensure_hostname(config)
        script = find_register_script()
        sys.argv = [script, args.name, args.site, args.mac]
        # SystemExit (exit 1 on "Error: ...") propagates as our exit code.
        runpy.run_path(script, run_name="__main__")
        return 0

    if args.cmd == "checkin":
        from os2borgerpc.client import jobmanager

        ensure_hostname(config)
        # Uncaught exceptions propagate: Python prints the traceback and exits
        # 1, as bin/jobmanager would.
        jobmanager.update_and_run()
        return 0

    parser.error("unknown command")  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
