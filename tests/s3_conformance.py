#!/usr/bin/python3
"""Cairn's S3 conformance checks (issue 13): what the S3 API reference specifies, asserted
request by request with boto3, for any S3 endpoint.

    tests/s3_conformance.py ENDPOINT ACCESS_KEY SECRET [--alt AK:SECRET] [--only SUBSTRING]
                            [--known A,B] [--list]
    tests/s3_conformance.py --list | --help

Each check is one behaviour of the reference (an answer, an error code and status, a header),
written from the API reference, not from what a client tolerates; the areas are those public
conformance suites cover (buckets, objects, headers, ranges, conditions, copy, batch delete,
both listings, multipart, authentication, the sub-resources tools probe). It creates buckets
named `conf-<random>-N` and removes them. The exit status is 0 only when every check passed;
the last line is `S3-CONFORMANCE passed=P failed=F known=K skipped=S`. Point it at another S3 implementation to
compare: nothing in it is Cairn's. tests/s3_conformance_test.sh runs it against cairnd.
"""
import base64
import datetime
import hashlib
import http.client
import random
import string
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import zlib

import boto3
import botocore
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

if "--help" in sys.argv or "-h" in sys.argv:
    print(__doc__.strip())
    sys.exit(0)
if len(sys.argv) >= 4 and not any(a.startswith("--") for a in sys.argv[1:4]):
    EP, AK, SECRET = sys.argv[1:4]
elif "--list" in sys.argv:  # the names alone need no endpoint
    EP, AK, SECRET = "http://127.0.0.1:1", "-", "-"
else:
    print(__doc__.strip(), file=sys.stderr)
    sys.exit(2)
ONLY = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else ""
# --alt ACCESS_KEY:SECRET: a second key that owns nothing of the first's; the checks named
# alt_* use it (skipped without it).
ALT = sys.argv[sys.argv.index("--alt") + 1].split(":", 1) if "--alt" in sys.argv else None
# --known NAME,NAME: checks the implementation under test is known to fail, each documented
# where it is decided. They are reported as KNOWN and do not fail the run; one that passes
# does (UNEXPECTED PASS), so the list is kept true.
KNOWN = set(sys.argv[sys.argv.index("--known") + 1].split(",")) if "--known" in sys.argv else set()
RUN_ID = "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(8))
_buckets = []


def client(ak=AK, secret=SECRET):
    return boto3.client("s3", endpoint_url=EP, aws_access_key_id=ak, aws_secret_access_key=secret,
                        region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                      retries={"max_attempts": 1}))


S3 = client()


def new_bucket():
    name = "conf-%s-%d" % (RUN_ID, len(_buckets))
    S3.create_bucket(Bucket=name)
    _buckets.append(name)
    return name


def put_keys(b, keys):
    for k in keys:
        S3.put_object(Bucket=b, Key=k, Body=k.encode())
    return b


def md5hex(data):
    return hashlib.md5(data).hexdigest()


class Fail(Exception):
    pass


def eq(got, want, what=""):
    if got != want:
        raise Fail("%s: got %r, want %r" % (what or "value", got, want))


def error_of(fn, *args, **kwargs):
    """Runs a call that must fail; returns (HTTP status, S3 error code)."""
    try:
        fn(*args, **kwargs)
    except botocore.exceptions.ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"].get("Code")
    raise Fail("the call succeeded; an error was expected")


def expect_error(status, code, fn, *args, **kwargs):
    got = error_of(fn, *args, **kwargs)
    # A HEAD has no body: only its status says what went wrong.
    if fn.__name__.startswith("head_"):
        eq(got[0], status, "HTTP status")
    else:
        eq(got, (status, code), "(status, code)")


def with_headers(fn, headers, **kwargs):
    """Calls a boto3 operation with extra request headers (signed like the others)."""
    def add(request, **_):
        for k, v in headers.items():
            request.headers[k] = v
    event = "before-sign.s3.*"
    S3.meta.events.register(event, add)
    try:
        return fn(**kwargs)
    finally:
        S3.meta.events.unregister(event, add)


def raw(method, path, body=b"", headers=None, sign=True, secret=SECRET, query=""):
    """One HTTP request outside boto3, with exactly these headers: (status, headers, body)."""
    url = EP + path + (("?" + query) if query else "")
    h = dict(headers or {})
    if sign:
        req = AWSRequest(method=method, url=url, data=body, headers=h)
        req.headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
        SigV4Auth(Credentials(AK, secret), "s3", "us-east-1").add_auth(req)
        h = dict(req.headers.items())
    u = urllib.parse.urlsplit(url)
    conn = (http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection)(
        u.hostname, u.port, timeout=30)
    try:
        conn.request(method, u.path + (("?" + u.query) if u.query else ""),
                     body=body if method in ("PUT", "POST") else None, headers=h)
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


# ---- Buckets -----------------------------------------------------------------------------

@check
def bucket_create_twice_is_owned_by_you():
    b = new_bucket()
    # us-east-1 answers 200 for a bucket the caller owns (legacy); every other region 409.
    try:
        S3.create_bucket(Bucket=b)
    except botocore.exceptions.ClientError as e:
        eq(e.response["Error"]["Code"], "BucketAlreadyOwnedByYou", "code")


@check
def bucket_names_that_break_the_rules_are_invalid():
    for name in ["ab", "a" * 64, "Upper-case", "under_score", "-leading-dash", "trailing-dash-",
                 "192.168.5.4", "two..dots", "dot.-dash"]:
        try:
            S3.create_bucket(Bucket=name)
        except botocore.exceptions.ClientError as e:
            eq((e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"]),
               (400, "InvalidBucketName"), name)
            continue
        S3.delete_bucket(Bucket=name)
        raise Fail("bucket %r was created" % name)


@check
def bucket_missing_answers_no_such_bucket():
    b = "conf-%s-missing" % RUN_ID
    expect_error(404, "NoSuchBucket", S3.list_objects, Bucket=b)
    expect_error(404, "NoSuchBucket", S3.list_objects_v2, Bucket=b)
    expect_error(404, "NoSuchBucket", S3.get_object, Bucket=b, Key="k")
    expect_error(404, "NoSuchBucket", S3.put_object, Bucket=b, Key="k", Body=b"x")
    expect_error(404, "NoSuchBucket", S3.delete_bucket, Bucket=b)
    expect_error(404, "NoSuchBucket", S3.head_bucket, Bucket=b)


@check
def bucket_delete_non_empty_is_refused():
    b = put_keys(new_bucket(), ["k"])
    expect_error(409, "BucketNotEmpty", S3.delete_bucket, Bucket=b)
    S3.delete_object(Bucket=b, Key="k")
    S3.delete_bucket(Bucket=b)
    _buckets.remove(b)
    expect_error(404, "NoSuchBucket", S3.head_bucket, Bucket=b)


@check
def bucket_list_has_it_with_a_creation_date():
    b = new_bucket()
    r = S3.list_buckets()
    mine = [x for x in r["Buckets"] if x["Name"] == b]
    eq(len(mine), 1, "listed")
    if not isinstance(mine[0]["CreationDate"], datetime.datetime):
        raise Fail("CreationDate %r" % mine[0]["CreationDate"])
    if "Owner" not in r:
        raise Fail("no Owner")


@check
def bucket_location_of_us_east_1_is_empty():
    b = new_bucket()
    eq(S3.get_bucket_location(Bucket=b).get("LocationConstraint"), None, "LocationConstraint")


@check
def bucket_with_a_location_body_keeps_it():
    name = "conf-%s-loc" % RUN_ID
    S3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    _buckets.append(name)
    eq(S3.get_bucket_location(Bucket=name)["LocationConstraint"], "eu-west-1", "location")


@check
def bucket_sub_resources_tools_probe():
    b = new_bucket()
    eq(S3.get_bucket_versioning(Bucket=b).get("Status"), None, "versioning status")
    expect_error(404, "NoSuchBucketPolicy", S3.get_bucket_policy, Bucket=b)
    expect_error(404, "NoSuchCORSConfiguration", S3.get_bucket_cors, Bucket=b)
    expect_error(404, "NoSuchLifecycleConfiguration", S3.get_bucket_lifecycle_configuration, Bucket=b)
    expect_error(404, "NoSuchTagSet", S3.get_bucket_tagging, Bucket=b)
    expect_error(404, "NoSuchWebsiteConfiguration", S3.get_bucket_website, Bucket=b)
    acl = S3.get_bucket_acl(Bucket=b)
    grants = [g["Permission"] for g in acl["Grants"]]
    eq(grants, ["FULL_CONTROL"], "owner's grant")


@check
def bucket_head_and_paged_list():
    b1, b2 = new_bucket(), new_bucket()
    eq(S3.head_bucket(Bucket=b1)["ResponseMetadata"]["HTTPStatusCode"], 200, "HEAD bucket")
    # ListBuckets with max-buckets pages by continuation token.
    st, _, body = raw("GET", "/", query="max-buckets=1")
    eq(st, 200, "status")
    if body.count(b"<Bucket>") != 1 or b"<ContinuationToken>" not in body:
        raise Fail("one bucket and a continuation token: %r" % body[:300])


# ---- Objects -----------------------------------------------------------------------------

@check
def object_round_trip_with_md5_etag():
    b = new_bucket()
    body = b"hello, conformance"
    r = S3.put_object(Bucket=b, Key="k", Body=body)
    eq(r["ETag"], '"%s"' % md5hex(body), "PUT ETag")
    g = S3.get_object(Bucket=b, Key="k")
    eq(g["Body"].read(), body, "body")
    eq(g["ETag"], '"%s"' % md5hex(body), "GET ETag")
    eq(g["ContentLength"], len(body), "Content-Length")
    if not isinstance(g["LastModified"], datetime.datetime):
        raise Fail("Last-Modified %r" % g["LastModified"])
    h = S3.head_object(Bucket=b, Key="k")
    eq((h["ContentLength"], h["ETag"]), (len(body), '"%s"' % md5hex(body)), "HEAD")
    eq(h["AcceptRanges"], "bytes", "Accept-Ranges")


@check
def object_empty():
    b = new_bucket()
    r = S3.put_object(Bucket=b, Key="empty", Body=b"")
    eq(r["ETag"], '"d41d8cd98f00b204e9800998ecf8427e"', "ETag")
    g = S3.get_object(Bucket=b, Key="empty")
    eq((g["ContentLength"], g["Body"].read()), (0, b""), "empty body")


@check
def object_missing_answers_no_such_key():
    b = new_bucket()
    expect_error(404, "NoSuchKey", S3.get_object, Bucket=b, Key="nope")
    expect_error(404, "NoSuchKey", S3.head_object, Bucket=b, Key="nope")


@check
def object_delete_is_idempotent():
    b = put_keys(new_bucket(), ["k"])
    eq(S3.delete_object(Bucket=b, Key="k")["ResponseMetadata"]["HTTPStatusCode"], 204, "first")
    eq(S3.delete_object(Bucket=b, Key="k")["ResponseMetadata"]["HTTPStatusCode"], 204, "again")
    eq(S3.delete_object(Bucket=b, Key="never")["ResponseMetadata"]["HTTPStatusCode"], 204, "never")


@check
def object_overwrite_replaces_body_and_metadata():
    b = new_bucket()
    S3.put_object(Bucket=b, Key="k", Body=b"one", Metadata={"a": "1"})
    S3.put_object(Bucket=b, Key="k", Body=b"second", Metadata={"b": "2"})
    g = S3.get_object(Bucket=b, Key="k")
    eq((g["Body"].read(), g["Metadata"]), (b"second", {"b": "2"}), "second version")


@check
def object_user_metadata_round_trip():
    b = new_bucket()
    meta = {"color": "blue", "mixed-case": "Value With Spaces", "empty": ""}
    S3.put_object(Bucket=b, Key="m", Body=b"x", Metadata=meta)
    eq(S3.head_object(Bucket=b, Key="m")["Metadata"], meta, "HEAD metadata")
    eq(S3.get_object(Bucket=b, Key="m")["Metadata"], meta, "GET metadata")
    # Names are case-insensitive: sent upper case, they come back lower case.
    with_headers(S3.put_object, {"x-amz-meta-UPPER": "v"}, Bucket=b, Key="u", Body=b"x")
    eq(S3.head_object(Bucket=b, Key="u")["Metadata"], {"upper": "v"}, "lower-cased name")


@check
def object_standard_headers_round_trip():
    b = new_bucket()
    expires = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    S3.put_object(Bucket=b, Key="h", Body=b"x", ContentType="text/x-conf",
                  ContentEncoding="identity", ContentDisposition='attachment; filename="a b"',
                  CacheControl="max-age=60", ContentLanguage="en-GB", Expires=expires)
    for r in (S3.head_object(Bucket=b, Key="h"), S3.get_object(Bucket=b, Key="h")):
        eq(r["ContentType"], "text/x-conf", "Content-Type")
        eq(r["ContentEncoding"], "identity", "Content-Encoding")
        eq(r["ContentDisposition"], 'attachment; filename="a b"', "Content-Disposition")
        eq(r["CacheControl"], "max-age=60", "Cache-Control")
        eq(r["ContentLanguage"], "en-GB", "Content-Language")
        eq(r["Expires"], expires, "Expires")


@check
def object_default_content_type():
    b = new_bucket()
    raw("PUT", "/%s/ct" % b, b"x")
    eq(S3.head_object(Bucket=b, Key="ct")["ContentType"], "binary/octet-stream", "default type")


@check
def object_get_response_header_overrides():
    b = new_bucket()
    S3.put_object(Bucket=b, Key="o", Body=b"x", ContentType="text/plain")
    g = S3.get_object(Bucket=b, Key="o", ResponseContentType="application/x-over",
                      ResponseContentDisposition="inline", ResponseCacheControl="no-store",
                      ResponseContentEncoding="gzip", ResponseContentLanguage="fr",
                      ResponseExpires=datetime.datetime(2031, 1, 1, tzinfo=datetime.timezone.utc))
    eq(g["ContentType"], "application/x-over", "response-content-type")
    eq(g["ContentDisposition"], "inline", "response-content-disposition")
    eq(g["CacheControl"], "no-store", "response-cache-control")
    eq(g["ContentEncoding"], "gzip", "response-content-encoding")
    eq(g["ContentLanguage"], "fr", "response-content-language")


@check
def object_content_md5_is_checked():
    b = new_bucket()
    good = base64.b64encode(hashlib.md5(b"abc").digest()).decode()
    S3.put_object(Bucket=b, Key="ok", Body=b"abc", ContentMD5=good)
    wrong = base64.b64encode(hashlib.md5(b"abd").digest()).decode()
    expect_error(400, "BadDigest", S3.put_object, Bucket=b, Key="bad", Body=b"abc", ContentMD5=wrong)
    expect_error(404, "NoSuchKey", S3.get_object, Bucket=b, Key="bad")
    st, _, body = raw("PUT", "/%s/bad2" % b, b"abc", {"Content-MD5": "not base64!"})
    eq(st, 400, "malformed Content-MD5 status")
    if b"<Code>InvalidDigest</Code>" not in body:
        raise Fail("malformed Content-MD5: %r" % body[:200])


@check
def object_crc32_checksum_is_checked():
    b = new_bucket()
    crc = base64.b64encode(zlib.crc32(b"abc").to_bytes(4, "big")).decode()
    with_headers(S3.put_object, {"x-amz-checksum-crc32": crc}, Bucket=b, Key="ok", Body=b"abc")
    wrong = base64.b64encode((zlib.crc32(b"abc") ^ 1).to_bytes(4, "big")).decode()
    got = error_of(with_headers, S3.put_object, {"x-amz-checksum-crc32": wrong}, Bucket=b,
                   Key="bad", Body=b"abc")
    eq(got, (400, "BadDigest"), "(status, code)")
    expect_error(404, "NoSuchKey", S3.get_object, Bucket=b, Key="bad")


def crc64nvme(data):
    # CRC-64/NVME, reflected (polynomial 0xAD93D23594C93659), bit by bit: S3's CRC64NVME.
    crc = 0xFFFFFFFFFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x9A6C9329AC4BC9B5 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFFFFFFFFFF


@check
def object_crc64nvme_checksum_is_checked():
    # The x-amz-checksum-crc64nvme header (PutObject reference; "Checking object integrity"):
    # checked and echoed, a wrong one BadDigest and nothing stored.
    eq(crc64nvme(b"123456789"), 0xAE8B14860A799888, "the CRC-64/NVME check value")
    b = new_bucket()
    right = base64.b64encode(crc64nvme(b"abc").to_bytes(8, "big")).decode()
    r = with_headers(S3.put_object, {"x-amz-checksum-crc64nvme": right}, Bucket=b, Key="ok",
                     Body=b"abc")
    eq(r["ResponseMetadata"]["HTTPHeaders"].get("x-amz-checksum-crc64nvme"), right, "echoed")
    wrong = base64.b64encode((crc64nvme(b"abc") ^ 1).to_bytes(8, "big")).decode()
    got = error_of(with_headers, S3.put_object, {"x-amz-checksum-crc64nvme": wrong}, Bucket=b,
                   Key="bad", Body=b"abc")
    eq(got, (400, "BadDigest"), "(status, code)")
    expect_error(404, "NoSuchKey", S3.get_object, Bucket=b, Key="bad")


@check
def object_key_length_limit_is_1024_bytes():
    b = new_bucket()
    S3.put_object(Bucket=b, Key="k" * 1024, Body=b"x")
    eq(S3.get_object(Bucket=b, Key="k" * 1024)["Body"].read(), b"x", "1024-byte key")
    expect_error(400, "KeyTooLongError", S3.put_object, Bucket=b, Key="k" * 1025, Body=b"x")


@check
def object_awkward_keys_round_trip():
    b = new_bucket()
    keys = ["sp ace", "plus+sign", "pct%41", "uni-é-日本", "trail/", "a/b//c", "q?uery", "h#ash",
            "amp&er=sand", "tab\there", "~tilde", "star*", "(paren)", "'quote'", "semi;colon"]
    for k in keys:
        S3.put_object(Bucket=b, Key=k, Body=k.encode())
    for k in keys:
        eq(S3.get_object(Bucket=b, Key=k)["Body"].read(), k.encode(), repr(k))
    listed = [o["Key"] for o in S3.list_objects_v2(Bucket=b)["Contents"]]
    eq(listed, sorted(keys, key=lambda s: s.encode()), "listed in byte order")


@check
def object_version_id_null_on_an_unversioned_bucket():
    b = put_keys(new_bucket(), ["k"])
    eq(S3.get_object(Bucket=b, Key="k", VersionId="null")["Body"].read(), b"k", "versionId=null")
    expect_error(400, "InvalidArgument", S3.get_object, Bucket=b, Key="k", VersionId="3HL4kqtJlcpXroDTDmJ")


@check
def object_acl_and_tagging_answers():
    b = put_keys(new_bucket(), ["k"])
    acl = S3.get_object_acl(Bucket=b, Key="k")
    eq([g["Permission"] for g in acl["Grants"]], ["FULL_CONTROL"], "owner's grant")
    S3.put_object_acl(Bucket=b, Key="k", ACL="private")
    eq(S3.get_object_tagging(Bucket=b, Key="k")["TagSet"], [], "no tags")
    expect_error(404, "NoSuchKey", S3.get_object_acl, Bucket=b, Key="missing")


@check
def object_storage_class():
    b = new_bucket()
    S3.put_object(Bucket=b, Key="s", Body=b"x", StorageClass="STANDARD")
    expect_error(400, "InvalidStorageClass", S3.put_object, Bucket=b, Key="bad", Body=b"x",
                 StorageClass="NO_SUCH_CLASS")


@check
def object_keys_with_xml_special_characters():
    # Keys travel in XML listings and errors: each must come back as it went in.
    b = new_bucket()
    keys = ["lt<", "gt>", "amp&", 'quot"', "apos'", "<tag>&amp;</tag>", "]]>", "$dollar", "_ _"]
    for k in keys:
        S3.put_object(Bucket=b, Key=k, Body=b"x")
    eq(keys_of(S3.list_objects_v2(Bucket=b)), sorted(keys), "V2 listing")
    eq(keys_of(S3.list_objects(Bucket=b)), sorted(keys), "V1 listing")
    r = S3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": k} for k in keys]})
    eq(sorted(d["Key"] for d in r["Deleted"]), sorted(keys), "DeleteObjects")
    eq(S3.list_objects_v2(Bucket=b)["KeyCount"], 0, "all deleted")


# ---- Ranges ------------------------------------------------------------------------------

@check
def range_forms():
    b = new_bucket()
    body = bytes(range(256)) * 4  # 1,024 bytes
    S3.put_object(Bucket=b, Key="r", Body=body)
    for rng, lo, hi in [("bytes=0-0", 0, 0), ("bytes=4-7", 4, 7), ("bytes=1000-", 1000, 1023),
                        ("bytes=-24", 1000, 1023), ("bytes=1000-5000", 1000, 1023),
                        ("bytes=-5000", 0, 1023)]:
        g = S3.get_object(Bucket=b, Key="r", Range=rng)
        eq(g["ResponseMetadata"]["HTTPStatusCode"], 206, rng + " status")
        eq(g["ContentRange"], "bytes %d-%d/1024" % (lo, hi), rng + " Content-Range")
        eq(g["Body"].read(), body[lo:hi + 1], rng + " body")
    expect_error(416, "InvalidRange", S3.get_object, Bucket=b, Key="r", Range="bytes=1024-")
    expect_error(416, "InvalidRange", S3.get_object, Bucket=b, Key="r", Range="bytes=2000-3000")


@check
def range_on_an_empty_object_is_unsatisfiable():
    b = new_bucket()
    S3.put_object(Bucket=b, Key="e", Body=b"")
    expect_error(416, "InvalidRange", S3.get_object, Bucket=b, Key="e", Range="bytes=0-")


@check
def range_malformed_is_ignored():
    # AWS ignores a Range header that does not parse: the whole object, 200. RFC 9110 (14.2)
    # lets a server ignore or reject one: a 416 is allowed by the RFC, but is not what AWS does.
    b = new_bucket()
    S3.put_object(Bucket=b, Key="r", Body=b"0123456789")
    for rng in ["bytes=5-2", "bytes=abc", "lines=0-1"]:
        g = S3.get_object(Bucket=b, Key="r", Range=rng)
        eq((g["ResponseMetadata"]["HTTPStatusCode"], g["Body"].read()), (200, b"0123456789"), rng)


@check
def range_on_head():
    b = new_bucket()
    S3.put_object(Bucket=b, Key="r", Body=b"0123456789")
    h = S3.head_object(Bucket=b, Key="r", Range="bytes=2-4")["ResponseMetadata"]
    eq((h["HTTPStatusCode"], h["HTTPHeaders"].get("content-length"),
        h["HTTPHeaders"].get("content-range")), (206, "3", "bytes 2-4/10"), "HEAD range")
    expect_error(416, "InvalidRange", S3.head_object, Bucket=b, Key="r", Range="bytes=10-")


# ---- Conditions --------------------------------------------------------------------------

@check
def conditional_get_and_head():
    b = new_bucket()
    etag = S3.put_object(Bucket=b, Key="c", Body=b"cond")["ETag"]
    past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    for op in (S3.get_object, S3.head_object):
        eq(op(Bucket=b, Key="c", IfMatch=etag)["ETag"], etag, "If-Match that matches")
        eq(op(Bucket=b, Key="c", IfMatch="*")["ETag"], etag, "If-Match: *")
        expect_error(412, "PreconditionFailed", op, Bucket=b, Key="c", IfMatch='"0000"')
        expect_error(304, "304", op, Bucket=b, Key="c", IfNoneMatch=etag)
        eq(op(Bucket=b, Key="c", IfNoneMatch='"0000"')["ETag"], etag, "If-None-Match other")
        expect_error(304, "304", op, Bucket=b, Key="c", IfModifiedSince=future)
        eq(op(Bucket=b, Key="c", IfModifiedSince=past)["ETag"], etag, "modified since 2000")
        expect_error(412, "PreconditionFailed", op, Bucket=b, Key="c", IfUnmodifiedSince=past)
        eq(op(Bucket=b, Key="c", IfUnmodifiedSince=future)["ETag"], etag, "unmodified since")
        # RFC 9110 13.2.2: If-Match wins over If-Unmodified-Since, If-None-Match over
        # If-Modified-Since.
        eq(op(Bucket=b, Key="c", IfMatch=etag, IfUnmodifiedSince=past)["ETag"], etag,
           "If-Match and an old If-Unmodified-Since")
        expect_error(304, "304", op, Bucket=b, Key="c", IfNoneMatch=etag, IfModifiedSince=past)


@check
def conditional_etag_lists():
    b = new_bucket()
    etag = S3.put_object(Bucket=b, Key="c", Body=b"x")["ETag"]
    eq(S3.get_object(Bucket=b, Key="c", IfMatch='"0000", %s' % etag)["ETag"], etag, "If-Match list")
    expect_error(304, "304", S3.get_object, Bucket=b, Key="c", IfNoneMatch='"0000", %s' % etag)
    expect_error(304, "304", S3.get_object, Bucket=b, Key="c", IfNoneMatch="*")


@check
def conditional_put():
    b = new_bucket()
    with_headers(S3.put_object, {"If-None-Match": "*"}, Bucket=b, Key="c", Body=b"first")
    got = error_of(with_headers, S3.put_object, {"If-None-Match": "*"}, Bucket=b, Key="c",
                   Body=b"second")
    eq(got, (412, "PreconditionFailed"), "create-only over an object")
    etag = S3.head_object(Bucket=b, Key="c")["ETag"]
    got = error_of(with_headers, S3.put_object, {"If-Match": '"0000"'}, Bucket=b, Key="c",
                   Body=b"third")
    eq(got, (412, "PreconditionFailed"), "If-Match another ETag")
    with_headers(S3.put_object, {"If-Match": etag}, Bucket=b, Key="c", Body=b"fourth")
    eq(S3.get_object(Bucket=b, Key="c")["Body"].read(), b"fourth", "the matching write")
    got = error_of(with_headers, S3.put_object, {"If-Match": etag}, Bucket=b, Key="missing",
                   Body=b"x")
    if got not in ((404, "NoSuchKey"), (412, "PreconditionFailed")):
        raise Fail("If-Match on a missing key: %r" % (got,))


@check
def conditional_with_a_range():
    b = new_bucket()
    etag = S3.put_object(Bucket=b, Key="c", Body=b"0123456789")["ETag"]
    g = S3.get_object(Bucket=b, Key="c", IfMatch=etag, Range="bytes=1-2")
    eq((g["ResponseMetadata"]["HTTPStatusCode"], g["Body"].read()), (206, b"12"), "If-Match and Range")
    expect_error(412, "PreconditionFailed", S3.get_object, Bucket=b, Key="c", IfMatch='"0"',
                 Range="bytes=1-2")


# ---- Copy --------------------------------------------------------------------------------

@check
def copy_keeps_or_replaces_metadata():
    b = new_bucket()
    S3.put_object(Bucket=b, Key="src", Body=b"copy me", Metadata={"a": "1"}, ContentType="text/a")
    r = S3.copy_object(Bucket=b, Key="same", CopySource={"Bucket": b, "Key": "src"})
    eq(r["CopyObjectResult"]["ETag"], '"%s"' % md5hex(b"copy me"), "copy's ETag")
    h = S3.head_object(Bucket=b, Key="same")
    eq((h["Metadata"], h["ContentType"]), ({"a": "1"}, "text/a"), "COPY directive")
    S3.copy_object(Bucket=b, Key="new", CopySource={"Bucket": b, "Key": "src"},
                   MetadataDirective="REPLACE", Metadata={"b": "2"}, ContentType="text/b")
    h = S3.head_object(Bucket=b, Key="new")
    eq((h["Metadata"], h["ContentType"]), ({"b": "2"}, "text/b"), "REPLACE directive")
    eq(S3.get_object(Bucket=b, Key="new")["Body"].read(), b"copy me", "copied bytes")


@check
def copy_of_a_multipart_object_is_one_object():
    # A copy is made by one request: its ETag is the MD5 of its bytes, and it has no parts.
    b = new_bucket()
    parts = [b"a" * (5 * MIB), b"b" * 10]
    uid, etags = upload_parts(b, "mp", parts)
    S3.complete_multipart_upload(Bucket=b, Key="mp", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]})
    r = S3.copy_object(Bucket=b, Key="copy", CopySource={"Bucket": b, "Key": "mp"})
    eq(r["CopyObjectResult"]["ETag"], '"%s"' % md5hex(b"".join(parts)), "the copy's ETag")
    h = S3.head_object(Bucket=b, Key="copy", PartNumber=1)
    eq((h["ContentLength"], h.get("PartsCount", 1)), (5 * MIB + 10, 1), "one part")


@check
def copy_across_buckets():
    b1, b2 = new_bucket(), new_bucket()
    S3.put_object(Bucket=b1, Key="src", Body=b"x" * 1000)
    S3.copy_object(Bucket=b2, Key="dst", CopySource={"Bucket": b1, "Key": "src"})
    eq(S3.get_object(Bucket=b2, Key="dst")["Body"].read(), b"x" * 1000, "bytes")


@check
def copy_onto_itself_needs_a_change():
    b = new_bucket()
    S3.put_object(Bucket=b, Key="k", Body=b"x", Metadata={"a": "1"})
    expect_error(400, "InvalidRequest", S3.copy_object, Bucket=b, Key="k",
                 CopySource={"Bucket": b, "Key": "k"})
    S3.copy_object(Bucket=b, Key="k", CopySource={"Bucket": b, "Key": "k"},
                   MetadataDirective="REPLACE", Metadata={"a": "2"})
    eq(S3.head_object(Bucket=b, Key="k")["Metadata"], {"a": "2"}, "metadata replaced in place")


@check
def copy_conditions_on_time():
    b = new_bucket()
    S3.put_object(Bucket=b, Key="src", Body=b"x")
    past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    src = {"Bucket": b, "Key": "src"}
    expect_error(412, "PreconditionFailed", S3.copy_object, Bucket=b, Key="d", CopySource=src,
                 CopySourceIfModifiedSince=future)
    expect_error(412, "PreconditionFailed", S3.copy_object, Bucket=b, Key="d", CopySource=src,
                 CopySourceIfUnmodifiedSince=past)
    S3.copy_object(Bucket=b, Key="d", CopySource=src, CopySourceIfModifiedSince=past)
    S3.copy_object(Bucket=b, Key="d2", CopySource=src, CopySourceIfUnmodifiedSince=future)


@check
def copy_errors_and_conditions():
    b = new_bucket()
    etag = S3.put_object(Bucket=b, Key="src", Body=b"x")["ETag"]
    expect_error(404, "NoSuchKey", S3.copy_object, Bucket=b, Key="d",
                 CopySource={"Bucket": b, "Key": "missing"})
    expect_error(404, "NoSuchBucket", S3.copy_object, Bucket=b, Key="d",
                 CopySource={"Bucket": "conf-%s-nobucket" % RUN_ID, "Key": "src"})
    expect_error(412, "PreconditionFailed", S3.copy_object, Bucket=b, Key="d",
                 CopySource={"Bucket": b, "Key": "src"}, CopySourceIfMatch='"0000"')
    expect_error(412, "PreconditionFailed", S3.copy_object, Bucket=b, Key="d",
                 CopySource={"Bucket": b, "Key": "src"}, CopySourceIfNoneMatch=etag)
    S3.copy_object(Bucket=b, Key="d", CopySource={"Bucket": b, "Key": "src"},
                   CopySourceIfMatch=etag)
    expect_error(404, "NoSuchKey", S3.head_object, Bucket=b, Key="never")


# ---- Batch delete ------------------------------------------------------------------------

@check
def delete_objects_reports_each_key():
    b = put_keys(new_bucket(), ["a", "b", "c"])
    r = S3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "a"}, {"Key": "b"},
                                                        {"Key": "missing"}]})
    eq(sorted(d["Key"] for d in r["Deleted"]), ["a", "b", "missing"], "Deleted")
    eq(r.get("Errors", []), [], "Errors")
    eq([o["Key"] for o in S3.list_objects_v2(Bucket=b)["Contents"]], ["c"], "left")
    q = S3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "c"}], "Quiet": True})
    eq(q.get("Deleted", []), [], "quiet mode lists nothing deleted")
    eq(S3.list_objects_v2(Bucket=b)["KeyCount"], 0, "empty")


@check
def delete_objects_malformed_xml():
    b = new_bucket()
    body = b"<Delete><Object><Key>a</Key></Object>"
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    st, _, out = raw("POST", "/" + b, body, {"Content-MD5": md5}, query="delete=")
    eq(st, 400, "status")
    if b"<Code>MalformedXML</Code>" not in out:
        raise Fail("code: %r" % out[:200])


@check
def delete_objects_limit_is_1000_keys():
    b = new_bucket()
    got = error_of(S3.delete_objects, Bucket=b,
                   Delete={"Objects": [{"Key": "k%d" % i} for i in range(1001)]})
    eq(got, (400, "MalformedXML"), "1,001 keys")


# ---- Listing, version 1 ------------------------------------------------------------------

def keys_of(r):
    return [o["Key"] for o in r.get("Contents", [])]


def prefixes_of(r):
    return [p["Prefix"] for p in r.get("CommonPrefixes", [])]


@check
def list_v1_paging_with_marker():
    b = put_keys(new_bucket(), ["foo", "bar", "baz"])
    r = S3.list_objects(Bucket=b, MaxKeys=2)
    eq((keys_of(r), r["IsTruncated"]), (["bar", "baz"], True), "first page")
    r = S3.list_objects(Bucket=b, Marker="baz", MaxKeys=2)
    eq((keys_of(r), r["IsTruncated"]), (["foo"], False), "second page")
    eq(r["Marker"], "baz", "Marker echoed")
    eq(r["MaxKeys"], 2, "MaxKeys echoed")


@check
def list_v1_delimiter_pages_with_next_marker():
    b = put_keys(new_bucket(), ["asdf", "boo/bar", "boo/baz/xyzzy", "cquux/thud", "cquux/bla"])
    pages = []
    marker = ""
    while True:
        r = S3.list_objects(Bucket=b, Delimiter="/", Marker=marker, MaxKeys=1)
        pages.append((keys_of(r), prefixes_of(r), r["IsTruncated"], r.get("NextMarker")))
        if not r["IsTruncated"]:
            break
        marker = r["NextMarker"]
    eq(pages, [(["asdf"], [], True, "asdf"), ([], ["boo/"], True, "boo/"),
               ([], ["cquux/"], False, None)], "pages")


@check
def list_v1_delimiter_other_than_slash():
    b = put_keys(new_bucket(), ["bar", "baz", "cab", "foo"])
    r = S3.list_objects(Bucket=b, Delimiter="a")
    eq((r["Delimiter"], keys_of(r), prefixes_of(r)), ("a", ["foo"], ["ba", "ca"]), "delimiter a")


@check
def list_v1_delimiter_of_several_characters():
    b = put_keys(new_bucket(), ["a--b--c", "a--d", "x", "y--"])
    r = S3.list_objects(Bucket=b, Delimiter="--")
    eq((keys_of(r), prefixes_of(r)), (["x"], ["a--", "y--"]), "delimiter --")


@check
def list_v1_marker_before_and_after_the_prefix():
    b = put_keys(new_bucket(), ["a", "p/1", "p/2", "z"])
    eq(keys_of(S3.list_objects(Bucket=b, Prefix="p/", Marker="b")), ["p/1", "p/2"], "marker before")
    eq(keys_of(S3.list_objects(Bucket=b, Prefix="p/", Marker="q")), [], "marker after")


@check
def list_v1_prefix_and_delimiter():
    b = put_keys(new_bucket(), ["asdf/", "boo/bar", "boo/baz/xyzzy"])
    r = S3.list_objects(Bucket=b, Prefix="boo/", Delimiter="/")
    eq((r["Prefix"], keys_of(r), prefixes_of(r)), ("boo/", ["boo/bar"], ["boo/baz/"]), "boo/")
    r = S3.list_objects(Bucket=b, Prefix="asdf/", Delimiter="/")
    eq((keys_of(r), prefixes_of(r)), (["asdf/"], []), "a key that ends with the delimiter")
    r = S3.list_objects(Bucket=b, Prefix="nope")
    eq((keys_of(r), r["IsTruncated"]), ([], False), "no match")


@check
def list_v1_url_encoding():
    b = put_keys(new_bucket(), ["foo+1/bar", "foo/bar/xyzzy", "quux ab/thud", "asdf+b"])
    # botocore decodes what it asked to be encoded, so read the raw answer.
    st, _, body = raw("GET", "/" + b, query="delimiter=%2F&encoding-type=url")
    eq(st, 200, "status")
    for want in [b"<Key>asdf%2Bb</Key>", b"<Prefix>foo%2B1/</Prefix>", b"<Prefix>quux%20ab/</Prefix>",
                 b"<EncodingType>url</EncodingType>"]:
        if want not in body:
            raise Fail("%r not in the listing" % want)


@check
def list_v1_max_keys_zero():
    b = put_keys(new_bucket(), ["a"])
    r = S3.list_objects(Bucket=b, MaxKeys=0)
    eq(keys_of(r), [], "no keys")


@check
def list_v1_defaults_and_bad_max_keys():
    b = put_keys(new_bucket(), ["a/1", "b"])
    r = S3.list_objects(Bucket=b)
    eq((r["MaxKeys"], r["IsTruncated"], r.get("Delimiter")), (1000, False, None), "defaults")
    r = S3.list_objects(Bucket=b, Delimiter="")
    eq((keys_of(r), prefixes_of(r)), (["a/1", "b"], []), "an empty delimiter groups nothing")
    r = S3.list_objects(Bucket=b, Delimiter="/", Prefix="zz")
    eq((keys_of(r), prefixes_of(r)), ([], []), "a prefix with no key")
    st, _, body = raw("GET", "/" + b, query="max-keys=blah")
    eq(st, 400, "max-keys=blah status")
    if b"<Code>InvalidArgument</Code>" not in body:
        raise Fail("max-keys=blah: %r" % body[:200])


@check
def list_v1_objects_have_their_fields():
    b = new_bucket()
    S3.put_object(Bucket=b, Key="k", Body=b"12345")
    o = S3.list_objects(Bucket=b)["Contents"][0]
    eq((o["Size"], o["ETag"], o["StorageClass"]), (5, '"%s"' % md5hex(b"12345"), "STANDARD"), "fields")
    if not isinstance(o.get("LastModified"), datetime.datetime):
        raise Fail("LastModified %r" % o.get("LastModified"))
    if not o.get("Owner", {}).get("ID"):
        raise Fail("V1 lists the owner of each object: %r" % o.get("Owner"))


# ---- Listing, version 2 ------------------------------------------------------------------

@check
def list_v2_key_count_and_start_after():
    b = put_keys(new_bucket(), ["foo", "bar", "baz"])
    r = S3.list_objects_v2(Bucket=b, MaxKeys=2)
    eq((keys_of(r), r["IsTruncated"], r["KeyCount"]), (["bar", "baz"], True, 2), "first page")
    r = S3.list_objects_v2(Bucket=b, StartAfter="baz")
    eq((keys_of(r), r["IsTruncated"], r["StartAfter"]), (["foo"], False, "baz"), "start-after")


@check
def list_v2_continuation_tokens():
    keys = ["k%02d" % i for i in range(7)] + ["d/1", "d/2", "e/1"]
    b = put_keys(new_bucket(), keys)
    seen, prefixes, token, pages = [], [], None, 0
    while True:
        kw = {"Bucket": b, "MaxKeys": 2, "Delimiter": "/"}
        if token:
            kw["ContinuationToken"] = token
        r = S3.list_objects_v2(**kw)
        pages += 1
        eq(r["KeyCount"], len(keys_of(r)) + len(prefixes_of(r)), "KeyCount counts prefixes too")
        if token:
            eq(r["ContinuationToken"], token, "token echoed")
        seen += keys_of(r)
        prefixes += prefixes_of(r)
        if not r["IsTruncated"]:
            if "NextContinuationToken" in r:
                raise Fail("the last page has a NextContinuationToken")
            break
        token = r["NextContinuationToken"]
    eq((seen, prefixes, pages), (["k%02d" % i for i in range(7)], ["d/", "e/"], 5), "walk")


@check
def list_v2_prefix_without_its_delimiter():
    b = put_keys(new_bucket(), ["boo/bar", "boo/baz/x", "boot", "b"])
    r = S3.list_objects_v2(Bucket=b, Prefix="boo", Delimiter="/")
    eq((keys_of(r), prefixes_of(r)), (["boot"], ["boo/"]), "prefix boo, delimiter /")
    r = S3.list_objects_v2(Bucket=b, Prefix="boo/", StartAfter="boo/bar")
    eq(keys_of(r), ["boo/baz/x"], "start-after inside the prefix")
    r = S3.list_objects_v2(Bucket=b, Prefix="boo/", StartAfter="zzz")
    eq((keys_of(r), r["KeyCount"]), ([], 0), "start-after past the prefix")


@check
def list_v2_continuation_token_wins_over_start_after():
    b = put_keys(new_bucket(), ["a", "b", "c", "d"])
    r = S3.list_objects_v2(Bucket=b, MaxKeys=1, StartAfter="a")
    eq(keys_of(r), ["b"], "first page")
    r = S3.list_objects_v2(Bucket=b, MaxKeys=1, StartAfter="a",
                           ContinuationToken=r["NextContinuationToken"])
    eq((keys_of(r), r["StartAfter"]), (["c"], "a"), "the token decides; start-after is echoed")


@check
def list_v2_fetch_owner():
    b = put_keys(new_bucket(), ["a"])
    if "Owner" in S3.list_objects_v2(Bucket=b)["Contents"][0]:
        raise Fail("an owner without fetch-owner")
    if "Owner" not in S3.list_objects_v2(Bucket=b, FetchOwner=True)["Contents"][0]:
        raise Fail("no owner with fetch-owner")


@check
def list_v2_bad_continuation_token():
    b = put_keys(new_bucket(), ["a"])
    expect_error(400, "InvalidArgument", S3.list_objects_v2, Bucket=b, ContinuationToken="@@not-a-token@@")


@check
def list_v2_negative_max_keys():
    b = new_bucket()
    st, _, body = raw("GET", "/" + b, query="list-type=2&max-keys=-1")
    eq(st, 400, "status")
    if b"<Code>InvalidArgument</Code>" not in body:
        raise Fail("code: %r" % body[:200])


@check
def list_object_versions_of_an_unversioned_bucket():
    b = put_keys(new_bucket(), ["a", "b"])
    r = S3.list_object_versions(Bucket=b)
    eq([(v["Key"], v["VersionId"], v["IsLatest"]) for v in r["Versions"]],
       [("a", "null", True), ("b", "null", True)], "versions")


# ---- Multipart ---------------------------------------------------------------------------

MIB = 1 << 20


def upload_parts(b, key, parts):
    uid = S3.create_multipart_upload(Bucket=b, Key=key)["UploadId"]
    etags = []
    for n, data in enumerate(parts, 1):
        etags.append(S3.upload_part(Bucket=b, Key=key, UploadId=uid, PartNumber=n, Body=data)["ETag"])
    return uid, etags


def multipart_etag(parts):
    return '"%s-%d"' % (hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest(),
                        len(parts))


@check
def multipart_complete_list_and_part_number():
    b = new_bucket()
    parts = [b"a" * (5 * MIB), b"b" * 100]
    uid, etags = upload_parts(b, "mp", parts)
    eq(etags[0], '"%s"' % md5hex(parts[0]), "part ETag")
    lp = S3.list_parts(Bucket=b, Key="mp", UploadId=uid)
    eq([(p["PartNumber"], p["Size"], p["ETag"]) for p in lp["Parts"]],
       [(1, 5 * MIB, etags[0]), (2, 100, etags[1])], "ListParts")
    ups = S3.list_multipart_uploads(Bucket=b)
    eq([(u["Key"], u["UploadId"]) for u in ups.get("Uploads", [])], [("mp", uid)], "ListMultipartUploads")
    r = S3.complete_multipart_upload(Bucket=b, Key="mp", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]})
    eq(r["ETag"], multipart_etag(parts), "multipart ETag")
    g = S3.get_object(Bucket=b, Key="mp")
    eq(g["Body"].read() == b"".join(parts), True, "assembled bytes")
    p1 = S3.head_object(Bucket=b, Key="mp", PartNumber=1)
    eq((p1["ContentLength"], p1["PartsCount"]), (5 * MIB, 2), "HEAD partNumber=1")
    p2 = S3.get_object(Bucket=b, Key="mp", PartNumber=2)
    eq((p2["Body"].read(), p2["ContentRange"]), (parts[1], "bytes %d-%d/%d" % (
        5 * MIB, 5 * MIB + 99, 5 * MIB + 100)), "GET partNumber=2")
    expect_error(416, "InvalidPartNumber", S3.get_object, Bucket=b, Key="mp", PartNumber=3)
    eq(S3.list_multipart_uploads(Bucket=b).get("Uploads", []), [], "no upload left")


@check
def multipart_complete_checks_parts():
    b = new_bucket()
    parts = [b"a" * (5 * MIB), b"b" * (5 * MIB), b"c"]
    uid, etags = upload_parts(b, "mp", parts)
    listed = [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]
    expect_error(400, "InvalidPart", S3.complete_multipart_upload, Bucket=b, Key="mp",
                 UploadId=uid, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"%s"' % ("0" * 32)}]})
    expect_error(400, "InvalidPart", S3.complete_multipart_upload, Bucket=b, Key="mp",
                 UploadId=uid, MultipartUpload={"Parts": listed[:2] + [{"PartNumber": 9, "ETag": etags[0]}]})
    expect_error(400, "InvalidPartOrder", S3.complete_multipart_upload, Bucket=b, Key="mp",
                 UploadId=uid, MultipartUpload={"Parts": [listed[1], listed[0]]})
    # The parts left out may be the small ones; a small part that is not the last is refused.
    uid2, etags2 = upload_parts(b, "small", [b"x" * 100, b"y" * 100])
    expect_error(400, "EntityTooSmall", S3.complete_multipart_upload, Bucket=b, Key="small",
                 UploadId=uid2, MultipartUpload={"Parts": [
                     {"PartNumber": n, "ETag": e} for n, e in enumerate(etags2, 1)]})
    # After the refusals the upload still completes, with parts 1 and 3 only.
    S3.complete_multipart_upload(Bucket=b, Key="mp", UploadId=uid, MultipartUpload={
        "Parts": [listed[0], listed[2]]})
    eq(S3.head_object(Bucket=b, Key="mp")["ContentLength"], 5 * MIB + 1, "parts 1 and 3")
    S3.abort_multipart_upload(Bucket=b, Key="small", UploadId=uid2)


@check
def multipart_part_content_md5_is_checked():
    b = new_bucket()
    uid = S3.create_multipart_upload(Bucket=b, Key="mp")["UploadId"]
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    expect_error(400, "BadDigest", S3.upload_part, Bucket=b, Key="mp", UploadId=uid, PartNumber=1,
                 Body=b"part", ContentMD5=wrong)
    eq(S3.list_parts(Bucket=b, Key="mp", UploadId=uid).get("Parts", []), [], "no part stored")
    S3.abort_multipart_upload(Bucket=b, Key="mp", UploadId=uid)


@check
def multipart_abort_and_unknown_upload():
    b = new_bucket()
    uid, _ = upload_parts(b, "mp", [b"a" * 10])
    S3.abort_multipart_upload(Bucket=b, Key="mp", UploadId=uid)
    expect_error(404, "NoSuchUpload", S3.list_parts, Bucket=b, Key="mp", UploadId=uid)
    expect_error(404, "NoSuchUpload", S3.upload_part, Bucket=b, Key="mp", UploadId=uid,
                 PartNumber=1, Body=b"x")
    expect_error(404, "NoSuchUpload", S3.complete_multipart_upload, Bucket=b, Key="mp",
                 UploadId="nonexistent", MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]})
    expect_error(404, "NoSuchUpload", S3.abort_multipart_upload, Bucket=b, Key="mp", UploadId=uid)
    expect_error(404, "NoSuchKey", S3.head_object, Bucket=b, Key="mp")


@check
def multipart_list_parts_and_uploads_page():
    b = new_bucket()
    uid = S3.create_multipart_upload(Bucket=b, Key="mp")["UploadId"]
    for n in range(1, 6):
        S3.upload_part(Bucket=b, Key="mp", UploadId=uid, PartNumber=n, Body=b"p%d" % n)
    r = S3.list_parts(Bucket=b, Key="mp", UploadId=uid, MaxParts=2)
    eq(([p["PartNumber"] for p in r["Parts"]], r["IsTruncated"], r["NextPartNumberMarker"]),
       ([1, 2], True, 2), "first page of parts")
    r = S3.list_parts(Bucket=b, Key="mp", UploadId=uid, MaxParts=2, PartNumberMarker=4)
    eq(([p["PartNumber"] for p in r["Parts"]], r["IsTruncated"]), ([5], False), "last page")
    others = [S3.create_multipart_upload(Bucket=b, Key=k)["UploadId"] for k in ("a/1", "a/2", "z")]
    r = S3.list_multipart_uploads(Bucket=b, Prefix="a/")
    eq(sorted(u["Key"] for u in r["Uploads"]), ["a/1", "a/2"], "uploads under a prefix")
    r = S3.list_multipart_uploads(Bucket=b, MaxUploads=2)
    eq((len(r["Uploads"]), r["IsTruncated"]), (2, True), "a page of 2 uploads")
    r2 = S3.list_multipart_uploads(Bucket=b, KeyMarker=r["NextKeyMarker"],
                                   UploadIdMarker=r["NextUploadIdMarker"])
    eq(sorted(u["Key"] for u in r["Uploads"] + r2["Uploads"]), ["a/1", "a/2", "mp", "z"], "all uploads")
    for k, u in zip(("a/1", "a/2", "z"), others):
        S3.abort_multipart_upload(Bucket=b, Key=k, UploadId=u)
    S3.abort_multipart_upload(Bucket=b, Key="mp", UploadId=uid)


@check
def multipart_complete_with_no_parts_is_malformed():
    b = new_bucket()
    uid = S3.create_multipart_upload(Bucket=b, Key="mp")["UploadId"]
    st, _, body = raw("POST", "/%s/mp" % b, b"<CompleteMultipartUpload></CompleteMultipartUpload>",
                      query="uploadId=" + urllib.parse.quote(uid, safe=""))
    eq(st, 400, "status")
    if b"<Code>MalformedXML</Code>" not in body:
        raise Fail("code: %r" % body[:200])
    S3.abort_multipart_upload(Bucket=b, Key="mp", UploadId=uid)


@check
def multipart_upload_part_copy_range_outside_the_source():
    b = new_bucket()
    S3.put_object(Bucket=b, Key="src", Body=b"x" * 100)
    uid = S3.create_multipart_upload(Bucket=b, Key="mp")["UploadId"]
    got = error_of(S3.upload_part_copy, Bucket=b, Key="mp", UploadId=uid, PartNumber=1,
                   CopySource={"Bucket": b, "Key": "src"}, CopySourceRange="bytes=50-200")
    if got not in ((400, "InvalidArgument"), (416, "InvalidRange")):
        raise Fail("a range past the source: %r" % (got,))
    S3.abort_multipart_upload(Bucket=b, Key="mp", UploadId=uid)


@check
def multipart_complete_replaces_an_existing_object():
    b = new_bucket()
    S3.put_object(Bucket=b, Key="k", Body=b"old", Metadata={"old": "1"})
    uid = S3.create_multipart_upload(Bucket=b, Key="k")["UploadId"]
    e = S3.upload_part(Bucket=b, Key="k", UploadId=uid, PartNumber=1, Body=b"new")["ETag"]
    eq(S3.get_object(Bucket=b, Key="k")["Body"].read(), b"old", "the old object until Complete")
    S3.complete_multipart_upload(Bucket=b, Key="k", UploadId=uid,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
    g = S3.get_object(Bucket=b, Key="k")
    eq((g["Body"].read(), g["Metadata"]), (b"new", {}), "the new object")


@check
def multipart_part_numbers_are_1_to_10000():
    b = new_bucket()
    uid = S3.create_multipart_upload(Bucket=b, Key="mp")["UploadId"]
    for n in (0, 10001):
        st, _, body = raw("PUT", "/%s/mp" % b, b"x", query="partNumber=%d&uploadId=%s" % (n, uid))
        eq(st, 400, "partNumber=%d status" % n)
        if b"<Code>InvalidArgument</Code>" not in body:
            raise Fail("partNumber=%d: %r" % (n, body[:200]))
    S3.abort_multipart_upload(Bucket=b, Key="mp", UploadId=uid)


@check
def multipart_keeps_the_metadata_given_at_create():
    b = new_bucket()
    uid = S3.create_multipart_upload(Bucket=b, Key="mp", Metadata={"m": "1"},
                                     ContentType="text/mp")["UploadId"]
    e = S3.upload_part(Bucket=b, Key="mp", UploadId=uid, PartNumber=1, Body=b"z")["ETag"]
    S3.complete_multipart_upload(Bucket=b, Key="mp", UploadId=uid,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
    h = S3.head_object(Bucket=b, Key="mp")
    eq((h["Metadata"], h["ContentType"]), ({"m": "1"}, "text/mp"), "metadata")


@check
def multipart_upload_part_copy_with_a_range():
    b = new_bucket()
    src = bytes(range(256)) * 4
    S3.put_object(Bucket=b, Key="src", Body=src)
    uid = S3.create_multipart_upload(Bucket=b, Key="mp")["UploadId"]
    r = S3.upload_part_copy(Bucket=b, Key="mp", UploadId=uid, PartNumber=1,
                            CopySource={"Bucket": b, "Key": "src"}, CopySourceRange="bytes=10-19")
    e = r["CopyPartResult"]["ETag"]
    eq(e, '"%s"' % md5hex(src[10:20]), "copied part's ETag")
    S3.complete_multipart_upload(Bucket=b, Key="mp", UploadId=uid,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
    eq(S3.get_object(Bucket=b, Key="mp")["Body"].read(), src[10:20], "bytes")


# ---- Authentication ----------------------------------------------------------------------

@check
def auth_wrong_secret_unknown_key_and_anonymous():
    b = put_keys(new_bucket(), ["k"])
    expect_error(403, "SignatureDoesNotMatch", client(AK, SECRET + "x").get_object, Bucket=b, Key="k")
    expect_error(403, "InvalidAccessKeyId", client("AKNOBODY", SECRET).get_object, Bucket=b, Key="k")
    st, _, body = raw("GET", "/%s/k" % b, sign=False)
    eq(st, 403, "anonymous status")
    if b"<Code>AccessDenied</Code>" not in body:
        raise Fail("anonymous: %r" % body[:200])
    st, _, _ = raw("PUT", "/%s/anon" % b, b"x", sign=False)
    eq(st, 403, "anonymous PUT status")
    expect_error(404, "NoSuchKey", S3.head_object, Bucket=b, Key="anon")


@check
def auth_wrong_payload_hash_is_refused():
    b = new_bucket()
    url = "/%s/k" % b
    req = AWSRequest(method="PUT", url=EP + url, data=b"body")
    req.headers["x-amz-content-sha256"] = hashlib.sha256(b"other").hexdigest()
    SigV4Auth(Credentials(AK, SECRET), "s3", "us-east-1").add_auth(req)
    st, _, body = raw("PUT", url, b"body", dict(req.headers.items()), sign=False)
    eq(st, 400, "status")
    if b"<Code>XAmzContentSHA256Mismatch</Code>" not in body:
        raise Fail("code: %r" % body[:200])
    expect_error(404, "NoSuchKey", S3.head_object, Bucket=b, Key="k")


@check
def auth_presigned_urls():
    b = new_bucket()
    S3.put_object(Bucket=b, Key="k", Body=b"presigned")
    url = S3.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "k"}, ExpiresIn=60)
    with urllib.request.urlopen(url, timeout=30) as r:
        eq(r.read(), b"presigned", "GET through a presigned URL")
    put = S3.generate_presigned_url("put_object", Params={"Bucket": b, "Key": "p"}, ExpiresIn=60)
    req = urllib.request.Request(put, data=b"put by url", method="PUT")
    with urllib.request.urlopen(req, timeout=30) as r:
        eq(r.status, 200, "PUT through a presigned URL")
    eq(S3.get_object(Bucket=b, Key="p")["Body"].read(), b"put by url", "stored")
    expired = S3.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "k"}, ExpiresIn=1)
    time.sleep(2)
    try:
        urllib.request.urlopen(expired, timeout=30)
        raise Fail("an expired URL was served")
    except urllib.error.HTTPError as e:
        eq(e.code, 403, "expired status")
        if b"<Code>AccessDenied</Code>" not in e.read():
            raise Fail("expired: not AccessDenied")
    tampered = url.replace("k?", "other?")
    try:
        urllib.request.urlopen(tampered, timeout=30)
        raise Fail("a URL for another key was served")
    except urllib.error.HTTPError as e:
        eq(e.code, 403, "tampered status")


@check
def auth_request_time_too_skewed():
    b = new_bucket()
    req = AWSRequest(method="GET", url=EP + "/" + b)
    req.headers["x-amz-content-sha256"] = hashlib.sha256(b"").hexdigest()
    signer = SigV4Auth(Credentials(AK, SECRET), "s3", "us-east-1")
    old = datetime.datetime.utcnow() - datetime.timedelta(hours=1)
    req.context["timestamp"] = old.strftime("%Y%m%dT%H%M%SZ")
    signer._modify_request_before_signing(req)
    req.headers["X-Amz-Date"] = req.context["timestamp"]
    # Sign with the old time (botocore takes it from the request's context).
    canonical = signer.canonical_request(req)
    sts = signer.string_to_sign(req, canonical)
    sig = signer.signature(sts, req)
    signer._inject_signature_to_request(req, sig)
    st, _, body = raw("GET", "/" + b, headers=dict(req.headers.items()), sign=False)
    eq(st, 403, "status")
    if b"<Code>RequestTimeTooSkewed</Code>" not in body:
        raise Fail("code: %r" % body[:200])


@check
def auth_presigned_expiry_over_a_week_is_refused():
    b = put_keys(new_bucket(), ["k"])
    url = S3.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "k"}, ExpiresIn=604801)
    try:
        urllib.request.urlopen(url, timeout=30)
        raise Fail("a URL valid for more than 7 days was served")
    except urllib.error.HTTPError as e:
        body = e.read()
        eq(e.code, 400, "status")
        if b"<Code>AuthorizationQueryParametersError</Code>" not in body:
            raise Fail("code: %r" % body[:200])


@check
def auth_credential_scope_of_another_region():
    b = put_keys(new_bucket(), ["k"])
    other = boto3.client("s3", endpoint_url=EP, aws_access_key_id=AK, aws_secret_access_key=SECRET,
                         region_name="eu-west-1",
                         config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                       retries={"max_attempts": 1}))
    expect_error(400, "AuthorizationHeaderMalformed", other.get_object, Bucket=b, Key="k")


# ---- A second key: another owner's buckets --------------------------------------------------

class Skip(Exception):
    pass


def alt_client():
    if ALT is None:
        raise Skip("no --alt key")
    return client(ALT[0], ALT[1])


@check
def alt_key_cannot_touch_anothers_bucket():
    alt = alt_client()
    b = new_bucket()
    S3.put_object(Bucket=b, Key="k", Body=b"mine")
    expect_error(403, "AccessDenied", alt.get_object, Bucket=b, Key="k")
    expect_error(403, "AccessDenied", alt.head_object, Bucket=b, Key="k")
    expect_error(403, "AccessDenied", alt.list_objects_v2, Bucket=b)
    expect_error(403, "AccessDenied", alt.list_objects, Bucket=b)
    expect_error(403, "AccessDenied", alt.put_object, Bucket=b, Key="theirs", Body=b"x")
    expect_error(403, "AccessDenied", alt.delete_object, Bucket=b, Key="k")
    expect_error(403, "AccessDenied", alt.delete_objects, Bucket=b, Delete={"Objects": [{"Key": "k"}]})
    expect_error(403, "AccessDenied", alt.create_multipart_upload, Bucket=b, Key="mp")
    expect_error(403, "AccessDenied", alt.list_multipart_uploads, Bucket=b)
    expect_error(403, "AccessDenied", alt.head_bucket, Bucket=b)
    expect_error(403, "AccessDenied", alt.delete_bucket, Bucket=b)
    url = alt.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "k"}, ExpiresIn=60)
    try:
        urllib.request.urlopen(url, timeout=30)
        raise Fail("another key's presigned URL was served")
    except urllib.error.HTTPError as e:
        eq(e.code, 403, "presigned status")
    eq(S3.get_object(Bucket=b, Key="k")["Body"].read(), b"mine", "the object is as it was")
    expect_error(404, "NoSuchKey", S3.head_object, Bucket=b, Key="theirs")
    eq(S3.head_bucket(Bucket=b)["ResponseMetadata"]["HTTPStatusCode"], 200, "the bucket is there")


@check
def alt_key_cannot_copy_out_of_anothers_bucket():
    alt = alt_client()
    b = new_bucket()
    S3.put_object(Bucket=b, Key="secret", Body=b"not yours")
    mine = "conf-%s-alt-copy" % RUN_ID
    alt.create_bucket(Bucket=mine)
    try:
        expect_error(403, "AccessDenied", alt.copy_object, Bucket=mine, Key="stolen",
                     CopySource={"Bucket": b, "Key": "secret"})
        uid = alt.create_multipart_upload(Bucket=mine, Key="stolen")["UploadId"]
        expect_error(403, "AccessDenied", alt.upload_part_copy, Bucket=mine, Key="stolen",
                     UploadId=uid, PartNumber=1, CopySource={"Bucket": b, "Key": "secret"})
        alt.abort_multipart_upload(Bucket=mine, Key="stolen", UploadId=uid)
        expect_error(404, "NoSuchKey", alt.head_object, Bucket=mine, Key="stolen")
    finally:
        for o in alt.list_objects_v2(Bucket=mine).get("Contents", []):
            alt.delete_object(Bucket=mine, Key=o["Key"])
        alt.delete_bucket(Bucket=mine)


@check
def alt_key_lists_only_its_buckets_and_cannot_take_a_name():
    alt = alt_client()
    b = new_bucket()
    mine = "conf-%s-alt-own" % RUN_ID
    alt.create_bucket(Bucket=mine)
    try:
        names = [x["Name"] for x in alt.list_buckets()["Buckets"]]
        if b in names or mine not in names:
            raise Fail("the second key lists %r" % names)
        expect_error(409, "BucketAlreadyExists", alt.create_bucket, Bucket=b)
    finally:
        alt.delete_bucket(Bucket=mine)


# ---- Every answer --------------------------------------------------------------------------

@check
def every_answer_has_a_request_id_and_errors_are_xml():
    b = new_bucket()
    r = S3.put_object(Bucket=b, Key="k", Body=b"x")
    if not r["ResponseMetadata"]["HTTPHeaders"].get("x-amz-request-id"):
        raise Fail("no x-amz-request-id on a success")
    st, h, body = raw("GET", "/%s/missing" % b)
    eq(st, 404, "status")
    if not h.get("x-amz-request-id"):
        raise Fail("no x-amz-request-id on an error")
    for want in (b"<Error>", b"<Code>NoSuchKey</Code>", b"<Message>", b"<Key>missing</Key>",
                 b"<RequestId>"):
        if want not in body:
            raise Fail("%r not in the error" % want)
    if not h.get("Content-Type", "").startswith("application/xml"):
        raise Fail("error Content-Type %r" % h.get("Content-Type"))


# ---- Running -------------------------------------------------------------------------------

def cleanup():
    for b in list(_buckets):
        try:
            for page in S3.get_paginator("list_objects_v2").paginate(Bucket=b):
                for o in page.get("Contents", []):
                    S3.delete_object(Bucket=b, Key=o["Key"])
            for u in S3.list_multipart_uploads(Bucket=b).get("Uploads", []):
                S3.abort_multipart_upload(Bucket=b, Key=u["Key"], UploadId=u["UploadId"])
            S3.delete_bucket(Bucket=b)
        except Exception as e:  # noqa: BLE001 (leave the rest to the caller's cleanup)
            print("cleanup of %s: %s" % (b, e))


def main():
    if "--list" in sys.argv:
        for c in CHECKS:
            print(c.__name__)
        return 0
    unknown = KNOWN - {c.__name__ for c in CHECKS}
    if unknown:
        print("--known names no check: %s" % " ".join(sorted(unknown)))
        return 2
    passed, failed, known, skipped = 0, [], [], 0
    for c in CHECKS:
        if ONLY and ONLY not in c.__name__:
            continue
        try:
            c()
            if c.__name__ in KNOWN:
                failed.append(c.__name__)
                print("UNEXPECTED PASS %s: take it off --known" % c.__name__)
            else:
                passed += 1
                print("PASS %s" % c.__name__)
            continue
        except Skip as e:
            skipped += 1
            print("SKIP %s: %s" % (c.__name__, e))
            continue
        except Fail as e:
            why = str(e)
        except Exception as e:  # noqa: BLE001 (an unexpected answer is a failure, not a crash)
            why = "%s: %s" % (type(e).__name__, e)
            if c.__name__ not in KNOWN:
                traceback.print_exc(limit=3)
        if c.__name__ in KNOWN:
            known.append(c.__name__)
            print("KNOWN %s: %s" % (c.__name__, why))
        else:
            failed.append(c.__name__)
            print("FAIL %s: %s" % (c.__name__, why))
    cleanup()
    print("S3-CONFORMANCE passed=%d failed=%d known=%d skipped=%d%s" % (
        passed, len(failed), len(known), skipped,
        (" (" + " ".join(failed) + ")") if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
