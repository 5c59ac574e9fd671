#!/usr/bin/python3
"""Puts KEYS 10 KiB objects into bucket "wrk" of an S3 endpoint and writes a wrk script that GETs
them at random by presigned URLs (each GET's signature is checked by the server).

    bench/s3/presigned_paths.py ENDPOINT ACCESS_KEY SECRET KEYS OUT.lua

Used by bench/s3/run.sh and bench/s3/ab.sh.
"""
import os
import sys

import boto3
from botocore.config import Config

ep, ak, sk, n, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
s3 = boto3.client("s3", endpoint_url=ep, aws_access_key_id=ak, aws_secret_access_key=sk,
                  region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
s3.create_bucket(Bucket="wrk")
pool = os.urandom(10240 + 4096)
paths = []
for i in range(n):
    off = (i * 2654435761) % 4096
    s3.put_object(Bucket="wrk", Key=str(i), Body=pool[off:off + 10240])
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "wrk", "Key": str(i)},
                                    ExpiresIn=3600)
    paths.append(url[len(ep):])
with open(out, "w") as f:
    f.write("math.randomseed(os.time())\npaths = {\n")
    f.write(",\n".join('"%s"' % p for p in paths))
    f.write("\n}\nrequest = function() return wrk.format(\"GET\", paths[math.random(#paths)]) end\n")
