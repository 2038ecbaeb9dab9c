#!/usr/bin/env node
// Calls the Clickwrap API with the token the rotator keeps in AWS Secrets Manager.
//
// Copy TokenCache and callApi into your application. They:
//
//   - read the secret's AWSCURRENT version (GetSecretValueCommand) and take
//     access_token and api_url (https://api.pactsafe.com/v1.1 when the secret
//     has none), refusing a secret the rotator would refuse too (a known
//     field that is not a string, a URL that is not https://), with an error
//     that names the field, never its value;
//   - keep the token for at most --max-age (5 minutes by default), and never
//     past the secret's expires_at;
//   - send it as "Authorization: Bearer" over HTTPS only, certificates
//     verified, following no redirect (so the token goes nowhere but api_url);
//   - when Clickwrap answers 401 (a rotation replaced the token since it was
//     read), read the secret again once and retry once with the newer token;
//   - make one read of the secret at a time, which the requests that need it
//     share (N concurrent requests at expiry, or N 401s, make one read).
//
// The token is never printed or logged. Needs Node.js 18 or later and
// @aws-sdk/client-secrets-manager (npm ci installs the version package-lock.json
// pins). The role running it needs secretsmanager:GetSecretValue on the token
// secret (and kms:Decrypt with a customer-managed key).
//
// Configuration, flags first, then environment:
//
//   --secret-id   CLICKWRAP_SECRET_ID  the token secret's name or ARN (clickwrap/api-token)
//   --requests    CONSUMER_REQUESTS    how many requests to make (10 when no --duration)
//   --duration    CONSUMER_DURATION    or for how long (500ms, 30s, 5m; a bare number is seconds)
//   --interval    CONSUMER_INTERVAL    pause between requests (1s)
//   --max-age     CLICKWRAP_MAX_AGE    how long a token is used before the secret is read again (5m)
//
// AWS_REGION and the usual AWS credentials; AWS_ENDPOINT_URL_SECRETS_MANAGER
// (or AWS_ENDPOINT_URL) to talk to another Secrets Manager endpoint, which
// the SDK reads itself. Another CA for the API, such as a test server's:
// NODE_EXTRA_CA_CERTS=ca.pem (added to Node's own CAs).
//
// It prints one line per request (its status, never the token) and a summary
// line, and exits 0 when every request succeeded, 1 otherwise, 2 on a usage
// error.

import { realpathSync } from "node:fs";
import https from "node:https";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";

const DEFAULT_API_URL = "https://api.pactsafe.com/v1.1";
const HTTP_TIMEOUT_MS = 10_000; // per request to the API

// SecretError: the secret could not be read or holds no usable token (never
// its value).
class SecretError extends Error {}

// The secret's fields that hold a string (or null), as the rotator reads them.
const STRING_FIELDS = ["client_id", "client_secret", "access_token", "token_type", "token_url", "api_url", "credentials_secret", "expires_at"];
// RFC 6750's Bearer credential (a token68): nothing else can go in the header.
const TOKEN68 = /^[A-Za-z0-9._~+/-]+=*$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

// TokenCache is the token from the secret's AWSCURRENT version, kept for a
// bounded time. One read of the secret at a time, shared by every caller
// that needs one (N requests at expiry, or N 401s, make one read).
export class TokenCache {
  #sm;
  #secretId;
  #maxAgeMs;
  #cached = null; // {token, apiUrl, readAt, expiry, n}, times in ms since the epoch, n the read's number
  #reading = null; // the read under way: a promise that every caller needing a read awaits
  #started = 0; // reads started

  constructor(secretsClient, secretId, maxAgeMs) {
    this.#sm = secretsClient;
    this.#secretId = secretId;
    this.#maxAgeMs = maxAgeMs;
  }

  // reads counts the GetSecretValue calls, for the summary.
  get reads() {
    return this.#started;
  }

  // get returns {token, apiUrl}: the cached ones, or a fresh read when they
  // are stale.
  async get() {
    if (!this.#fresh(Date.now())) {
      await this.#load();
    }
    return { token: this.#cached.token, apiUrl: this.#cached.apiUrl };
  }

  // reread reads the secret again after Clickwrap answered 401 to
  // rejectedToken. It returns {token, apiUrl} when the secret now holds
  // another token, null when it still holds the rejected one.
  async reread(rejectedToken) {
    // Nothing to read when another caller has already replaced the token. A
    // read under way may have started before the 401 and find the rejected
    // token: then wait for it and read again.
    const before = this.#started;
    while (this.#cached === null || (this.#cached.token === rejectedToken && this.#cached.n <= before)) {
      await this.#load();
    }
    if (this.#cached.token === rejectedToken) {
      return null;
    }
    return { token: this.#cached.token, apiUrl: this.#cached.apiUrl };
  }

  #fresh(now) {
    const c = this.#cached;
    if (c === null) {
      return false;
    }
    if (c.expiry > c.readAt) {
      return now < c.expiry;
    }
    // expires_at had already passed when the secret was read (the rotation is
    // late): use the token for maxAge rather than read on every call; a 401
    // still triggers a re-read.
    return now - c.readAt < this.#maxAgeMs;
  }

  // #load starts a read of the secret, or joins the one under way.
  #load() {
    this.#reading ??= this.#read().finally(() => {
      this.#reading = null;
    });
    return this.#reading;
  }

  async #read() {
    const n = ++this.#started;
    const readAt = Date.now();
    let out;
    try {
      out = await this.#sm.send(new GetSecretValueCommand({ SecretId: this.#secretId, VersionStage: "AWSCURRENT" }));
    } catch (e) {
      throw new SecretError(`reading secret ${this.#secretId}: ${e.name}: ${e.message}`);
    }
    const { token, apiUrl, expiresAt } = parseSecret(this.#secretId, out.SecretString);
    let expiry = readAt + this.#maxAgeMs;
    if (!Number.isNaN(expiresAt) && expiresAt < expiry) {
      expiry = expiresAt;
    }
    // Reads never overlap (#load), but never let an older one replace a newer.
    if (this.#cached === null || n > this.#cached.n) {
      this.#cached = { token, apiUrl, readAt, expiry, n };
    }
  }
}

// parseSecret returns {token, apiUrl, expiresAt (ms since the epoch, NaN
// when none)} from a SecretString. For a secret the rotator would refuse too
// it throws a SecretError that names the field at fault, never its value.
function parseSecret(secretId, secretString) {
  let secret;
  try {
    secret = JSON.parse(secretString ?? "");
  } catch {
    secret = null;
  }
  if (secret === null || typeof secret !== "object" || Array.isArray(secret)) {
    throw new SecretError(`secret ${secretId} is not a JSON object`);
  }
  const bad = (field, problem) => new SecretError(`secret ${secretId}: field "${field}" ${problem}`);
  for (const field of STRING_FIELDS) {
    // Absent or null (== null) is fine, as an empty string is.
    if (secret[field] != null && typeof secret[field] !== "string") {
      throw bad(field, "must be a JSON string");
    }
  }
  const token = secret.access_token ?? "";
  if (token === "") {
    throw bad("access_token", "is missing or empty: has the secret been rotated yet?");
  }
  if (!TOKEN68.test(token)) {
    throw bad("access_token", "is not a token68 (RFC 6750), so it cannot be sent as a Bearer token");
  }
  for (const field of ["api_url", "token_url"]) {
    if (secret[field] && !isHttpsUrl(secret[field])) {
      throw bad(field, "must be an https:// URL with a host and no user info: refusing to send the token over it");
    }
  }
  let expiresAt = NaN;
  if (secret.expires_at) {
    expiresAt = RFC3339.test(secret.expires_at) ? Date.parse(secret.expires_at) : NaN;
    if (Number.isNaN(expiresAt)) {
      throw bad("expires_at", "is not an RFC 3339 time such as 2026-01-02T15:04:05Z");
    }
  }
  return { token, apiUrl: (secret.api_url || DEFAULT_API_URL).replace(/\/+$/, ""), expiresAt };
}

function isHttpsUrl(text) {
  let url;
  try {
    url = new URL(text);
  } catch {
    return false;
  }
  return url.protocol === "https:" && url.hostname !== "" && url.username === "" && url.password === "";
}

// getSites sends GET {apiUrl}/sites?per_page=1 with the token and resolves to
// {status, reason}. node:https follows no redirect.
function getSites(apiUrl, token) {
  return new Promise((resolve, reject) => {
    const url = new URL(apiUrl + "/sites?per_page=1");
    if (url.protocol !== "https:") {
      reject(new Error(`refusing to send the token to ${url.protocol}//${url.host}`));
      return;
    }
    const req = https.get(url, { headers: { Authorization: `Bearer ${token}`, Accept: "application/json" } }, (res) => {
      res.resume(); // drain the body
      res.on("end", () => resolve({ status: res.statusCode, reason: res.statusMessage }));
      res.on("error", reject);
    });
    req.setTimeout(HTTP_TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${HTTP_TIMEOUT_MS / 1000}s`)));
    req.on("error", reject);
  });
}

// callApi makes one request, re-reading the secret once after a 401. It
// resolves to {ok, what, rejected, rereads}: rejected counts the 401
// answers, rereads the reads of the secret they caused.
export async function callApi(cache) {
  let { token, apiUrl } = await cache.get();
  let { status, reason } = await getSites(apiUrl, token);
  if (status !== 401) {
    return { ok: status === 200, what: `${status} ${reason}`, rejected: 0, rereads: 0 };
  }
  const fresh = await cache.reread(token);
  if (fresh === null) {
    return { ok: false, what: `${status} ${reason}, and a re-read of the secret found no newer token`, rejected: 1, rereads: 1 };
  }
  ({ token, apiUrl } = fresh);
  ({ status, reason } = await getSites(apiUrl, token));
  const what = `${status} ${reason} after a 401 and a re-read of the secret`;
  return { ok: status === 200, what, rejected: status === 401 ? 2 : 1, rereads: 1 };
}

// duration parses 500ms, 30s, 5m, 1h or a bare number of seconds into ms.
function duration(name, text) {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) {
    usage(`${name}: ${JSON.stringify(text)} is not a duration such as 500ms, 30s or 5m`);
  }
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "s"];
}

function usage(message) {
  console.error(`consumer.mjs: ${message}`);
  console.error("usage: node consumer.mjs [--secret-id ID] [--requests N] [--duration D] [--interval D] [--max-age D]");
  process.exit(2);
}

function parseFlags(argv) {
  const env = process.env;
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        "secret-id": { type: "string", default: env.CLICKWRAP_SECRET_ID || "clickwrap/api-token" },
        requests: { type: "string", default: env.CONSUMER_REQUESTS || "0" },
        duration: { type: "string", default: env.CONSUMER_DURATION || "" },
        interval: { type: "string", default: env.CONSUMER_INTERVAL || "1s" },
        "max-age": { type: "string", default: env.CLICKWRAP_MAX_AGE || "5m" },
      },
    }));
  } catch (e) {
    usage(e.message);
  }
  const requests = Number(values.requests);
  if (!Number.isInteger(requests) || requests < 0) {
    usage(`--requests: ${JSON.stringify(values.requests)} is not a count`);
  }
  const flags = {
    secretId: values["secret-id"],
    requests,
    durationMs: values.duration ? duration("--duration", values.duration) : 0,
    intervalMs: duration("--interval", values.interval),
    maxAgeMs: duration("--max-age", values["max-age"]),
  };
  if (flags.maxAgeMs <= 0) {
    usage("--max-age must be more than 0");
  }
  if (!flags.requests && !flags.durationMs) {
    flags.requests = 10;
  }
  return flags;
}

async function main() {
  const flags = parseFlags(process.argv.slice(2));
  // Region, credentials and AWS_ENDPOINT_URL_SECRETS_MANAGER come from the
  // environment (or the shared config files), as for any SDK client.
  const cache = new TokenCache(new SecretsManagerClient({}), flags.secretId, flags.maxAgeMs);

  let n = 0, ok = 0, failed = 0, rejected = 0, rereads = 0;
  let stop = false;
  const onSignal = () => { stop = true; };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const deadline = flags.durationMs ? Date.now() + flags.durationMs : Infinity;
  const more = () => !stop && (!flags.requests || n < flags.requests) && Date.now() < deadline;
  while (more()) {
    if (n > 0) {
      await new Promise((r) => setTimeout(r, flags.intervalMs));
      if (!more()) {
        break;
      }
    }
    n++;
    let res;
    try {
      res = await callApi(cache);
    } catch (e) {
      const what = e instanceof SecretError ? `could not read the token: ${e.message}` : `could not reach the API: ${e.message}`;
      res = { ok: false, what, rejected: 0, rereads: 0 };
    }
    rejected += res.rejected;
    rereads += res.rereads;
    if (res.ok) {
      ok++;
      console.log(`request ${n}: ${res.what}`);
    } else {
      failed++;
      console.log(`request ${n}: FAILED: ${res.what}`);
    }
  }
  console.log(`summary: requests=${n} ok=${ok} failed=${failed} rejected=${rejected} rereads=${rereads} secret_reads=${cache.reads}`);
  process.exitCode = n > 0 && failed === 0 ? 0 : 1;
}

// main runs when this file is the program, not when an application (or a
// test) imports TokenCache and callApi from it.
function isProgram() {
  try {
    return import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
  } catch {
    return false; // no script (node -e), or not a file
  }
}

if (isProgram()) {
  await main();
}
