#!/usr/bin/env python3
"""Call the Clickwrap API with the token the rotator keeps in AWS Secrets Manager.

Copy TokenCache and call_api into your application. They:

  * read the secret's AWSCURRENT version and take access_token and api_url
    (https://api.pactsafe.com/v1.1 when the secret has none), refusing a
    secret the rotator would refuse too (a known field that is not a string,
    a URL that is not https://), with an error that names the field, never
    its value;
  * keep the token for at most --max-age (5 minutes by default), and never past
    the secret's expires_at;
  * send it as "Authorization: Bearer" over HTTPS only, certificates verified,
    following no redirect (so the token goes nowhere but api_url);
  * when Clickwrap answers 401 (a rotation replaced the token since it was
    read), read the secret again once and retry once with the newer token;
  * are safe for threads: one read of the secret at a time, shared by the
    threads that need it (N threads at expiry, or N 401s, make one read).

The token is never printed or logged. Needs boto3 (Debian: apt-get install
python3-boto3) and the standard library. The role running it needs
secretsmanager:GetSecretValue on the token secret (and kms:Decrypt with a
customer-managed key).

Configuration, flags first, then environment:

  --secret-id   CLICKWRAP_SECRET_ID  the token secret's name or ARN (clickwrap/api-token)
  --requests    CONSUMER_REQUESTS    how many requests to make (10 when no --duration)
  --duration    CONSUMER_DURATION    or for how long (500ms, 30s, 5m; a bare number is seconds)
  --interval    CONSUMER_INTERVAL    pause between requests (1s)
  --max-age     CLICKWRAP_MAX_AGE    how long a token is used before the secret is read again (5m)

AWS_REGION (or AWS_DEFAULT_REGION) and the usual AWS credentials;
AWS_ENDPOINT_URL_SECRETS_MANAGER (or AWS_ENDPOINT_URL) to talk to another
Secrets Manager endpoint, passed to boto3 here because older releases, Debian
12's 1.26 among them, ignore it. Another CA for the API, such as a test
server's: SSL_CERT_FILE=ca.pem (it replaces the default bundle for this
process).

It prints one line per request (its status, never the token) and a summary
line, and exits 0 when every request succeeded, 1 otherwise, 2 on a usage error.
"""

import argparse
import http.client
import json
import os
import re
import signal
import ssl
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime

import boto3
import botocore.config
import botocore.exceptions

DEFAULT_API_URL = "https://api.pactsafe.com/v1.1"
HTTP_TIMEOUT = 10  # seconds, per request to the API

# The secret's fields that hold a string (or null), as the rotator reads them.
STRING_FIELDS = ("client_id", "client_secret", "access_token", "token_type",
                 "token_url", "api_url", "credentials_secret", "expires_at")
# RFC 6750's Bearer credential (a token68): nothing else can go in the header.
TOKEN68 = re.compile(r"[A-Za-z0-9._~+/-]+=*")
RFC3339 = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})")


class SecretError(Exception):
    """The secret could not be read or holds no usable token (never its value)."""


class TokenCache:
    """The token from the secret's AWSCURRENT version, kept for a bounded time.

    Safe for threads: the lock is held while the secret is read, so there is
    one read at a time, and a thread that waited for it uses its token rather
    than read again.
    """

    def __init__(self, secrets_client, secret_id, max_age):
        self._sm = secrets_client
        self._secret_id = secret_id
        self._max_age = max_age
        self._lock = threading.Lock()
        self._token = None
        self._api_url = None
        self._read_at = 0.0
        self._expiry = 0.0
        self.reads = 0  # GetSecretValue calls, for the summary

    def get(self):
        """(token, api_url): the cached ones, or a fresh read when they are stale."""
        with self._lock:
            if not self._fresh(time.time()):
                self._read()
            return self._token, self._api_url

    def reread(self, rejected_token):
        """Read the secret again after Clickwrap answered 401 to rejected_token.

        Returns (token, api_url) when the secret now holds another token, None
        when it still holds the rejected one (nothing newer to retry with).
        """
        with self._lock:
            if self._token in (None, rejected_token):  # else another thread has replaced it
                self._read()
            if self._token == rejected_token:
                return None
            return self._token, self._api_url

    def _fresh(self, now):
        if self._token is None:
            return False
        if self._expiry > self._read_at:
            return now < self._expiry
        # expires_at had already passed when the secret was read (the rotation
        # is late): use the token for max_age rather than read on every call;
        # a 401 still triggers a re-read.
        return now - self._read_at < self._max_age

    def _read(self):
        """Read the secret; the caller holds the lock."""
        read_at = time.time()
        self.reads += 1
        try:
            out = self._sm.get_secret_value(SecretId=self._secret_id, VersionStage="AWSCURRENT")
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            raise SecretError(f"reading secret {self._secret_id}: {e}") from None
        token, api_url, expires_at = parse_secret(self._secret_id, out.get("SecretString"))
        expiry = read_at + self._max_age
        if expires_at is not None and expires_at < expiry:
            expiry = expires_at
        self._token, self._api_url, self._read_at, self._expiry = token, api_url, read_at, expiry


def parse_secret(secret_id, secret_string):
    """(access_token, api_url, expires_at as a Unix time or None) from a SecretString.

    Raises SecretError, naming the field at fault but never its value, for a
    secret the rotator would refuse too.
    """
    try:
        secret = json.loads(secret_string or "")
    except (ValueError, RecursionError):
        secret = None
    if not isinstance(secret, dict):
        raise SecretError(f"secret {secret_id} is not a JSON object")

    def bad(field, problem):
        return SecretError(f'secret {secret_id}: field "{field}" {problem}')

    for field in STRING_FIELDS:
        if secret.get(field) is not None and not isinstance(secret[field], str):
            raise bad(field, "must be a JSON string")
    token = secret.get("access_token") or ""
    if not token:
        raise bad("access_token", "is missing or empty: has the secret been rotated yet?")
    if not TOKEN68.fullmatch(token):
        raise bad("access_token", "is not a token68 (RFC 6750), so it cannot be sent as a Bearer token")
    for field in ("api_url", "token_url"):
        if secret.get(field) and not is_https_url(secret[field]):
            raise bad(field, "must be an https:// URL with a host and no user info: refusing to send the token over it")
    expires_at = None
    if secret.get("expires_at"):
        expires_at = parse_time(secret["expires_at"])
        if expires_at is None:
            raise bad("expires_at", "is not an RFC 3339 time such as 2026-01-02T15:04:05Z")
    return token, (secret.get("api_url") or DEFAULT_API_URL).rstrip("/"), expires_at


def is_https_url(text):
    try:
        url = urllib.parse.urlsplit(text)
        url.port  # raises ValueError for a port that is not a number
    except ValueError:
        return False
    return url.scheme == "https" and bool(url.hostname) and "@" not in url.netloc


def parse_time(text):
    """An RFC 3339 time as a Unix time, None when it is not one."""
    m = RFC3339.fullmatch(text)
    if not m:
        return None
    try:  # fromisoformat takes "Z", and fractions of other than 3 or 6 digits, only from Python 3.11 on
        t = datetime.fromisoformat(m[1] + ("+00:00" if m[3] == "Z" else m[3]))
    except ValueError:
        return None
    return t.timestamp() + float(m[2] or 0)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Follow no redirect: urllib would send the Authorization header to the new host."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the 3xx is then raised as an HTTPError


def new_opener():
    # create_default_context verifies certificates and host names, with the
    # system's CAs, or SSL_CERT_FILE's.
    return urllib.request.build_opener(_NoRedirect, urllib.request.HTTPSHandler(context=ssl.create_default_context()))


def get_sites(opener, api_url, token):
    """GET {api_url}/sites?per_page=1 with the token: (status, reason)."""
    req = urllib.request.Request(api_url + "/sites?per_page=1",
                                 headers={"Authorization": "Bearer " + token, "Accept": "application/json"})
    try:
        with opener.open(req, timeout=HTTP_TIMEOUT) as resp:
            resp.read()
            return resp.status, resp.reason
    except urllib.error.HTTPError as e:  # 3xx, 4xx, 5xx
        e.read()
        e.close()
        return e.code, e.reason


def call_api(cache, opener):
    """One request, re-reading the secret once after a 401.

    Returns (ok, description, rejected, reread): rejected counts the 401
    answers, reread the reads of the secret they caused.
    """
    token, api_url = cache.get()
    status, reason = get_sites(opener, api_url, token)
    if status != 401:
        return status == 200, f"{status} {reason}", 0, 0
    fresh = cache.reread(token)
    if fresh is None:
        return False, f"{status} {reason}, and a re-read of the secret found no newer token", 1, 1
    token, api_url = fresh
    status, reason = get_sites(opener, api_url, token)
    if status == 200:
        return True, f"{status} {reason} after a 401 and a re-read of the secret", 1, 1
    return False, f"{status} {reason} after a 401 and a re-read of the secret", 1 + (status == 401), 1


def duration(text):
    """500ms, 30s, 5m, 1h or a bare number of seconds, in seconds."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 500ms, 30s or 5m")
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


def parse_args(argv):
    env = os.environ.get
    p = argparse.ArgumentParser(description="Call the Clickwrap API with the token the rotator keeps in AWS Secrets Manager.")
    p.add_argument("--secret-id", default=env("CLICKWRAP_SECRET_ID", "clickwrap/api-token"))
    p.add_argument("--requests", type=int, default=env("CONSUMER_REQUESTS", "0"))
    p.add_argument("--duration", type=duration, default=env("CONSUMER_DURATION") or None)
    p.add_argument("--interval", type=duration, default=env("CONSUMER_INTERVAL", "1s"))
    p.add_argument("--max-age", type=duration, default=env("CLICKWRAP_MAX_AGE", "5m"))
    args = p.parse_args(argv)  # string defaults go through type= too
    if args.requests < 0 or args.max_age <= 0:
        p.error("--requests must be 0 or more and --max-age more than 0")
    if not args.requests and not args.duration:
        args.requests = 10
    return args


def main(argv=None):
    args = parse_args(argv)
    endpoint = os.environ.get("AWS_ENDPOINT_URL_SECRETS_MANAGER") or os.environ.get("AWS_ENDPOINT_URL") or None
    # boto3 reads AWS_DEFAULT_REGION; AWS_REGION is what Lambda, ECS and the
    # other SDKs set.
    region = os.environ.get("AWS_REGION") or None
    sm = boto3.client("secretsmanager", region_name=region, endpoint_url=endpoint,
                      config=botocore.config.Config(connect_timeout=5, read_timeout=10, retries={"mode": "standard"}))
    cache = TokenCache(sm, args.secret_id, args.max_age)
    opener = new_opener()

    n = ok = failed = rejected = rereads = 0
    deadline = time.monotonic() + args.duration if args.duration else None

    # Ctrl-C or SIGTERM: finish the request under way, then print the summary.
    stopping = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stopping.append(signum))

    def more():
        return not stopping and (not args.requests or n < args.requests) and (deadline is None or time.monotonic() < deadline)

    while more():
        if n:
            time.sleep(args.interval)
            if not more():
                break
        n += 1
        try:
            success, what, r401, rr = call_api(cache, opener)
        except SecretError as e:
            success, what, r401, rr = False, f"could not read the token: {e}", 0, 0
        except (OSError, http.client.HTTPException) as e:  # refused, TLS verification, timeout
            success, what, r401, rr = False, f"could not reach the API: {e}", 0, 0
        rejected += r401
        rereads += rr
        if success:
            ok += 1
            print(f"request {n}: {what}", flush=True)
        else:
            failed += 1
            print(f"request {n}: FAILED: {what}", flush=True)
    print(f"summary: requests={n} ok={ok} failed={failed} rejected={rejected} rereads={rereads} secret_reads={cache.reads}", flush=True)
    return 0 if n > 0 and failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
