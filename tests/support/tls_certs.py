"""Throwaway TLS certificates for tests (Debian's `openssl` command).

    make_certs(directory) -> dict of paths:
      ca.pem / ca.key            a test certificate authority
      server.pem / server.key    a server certificate signed by it, valid for
                                 localhost, 127.0.0.1 and ::1
      other_ca.pem               another CA that signed nothing here (a "wrong
                                 CA" for verification failures)
      wrong_host.pem / .key      signed by ca.pem, but for the name
                                 "not-this-host.invalid" only (hostname check
                                 failures)
      self_signed.pem / .key     self-signed for localhost / 127.0.0.1, the way
                                 Heroku's Redis certificates are

Also a command: `python3 tls_certs.py DIR` writes them and prints the dict
as JSON (for tests written in C++).
"""

import json
import os
import subprocess
import sys

DAYS = "3650"


def _run(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _ext_file(directory, name, sans):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write("basicConstraints=CA:FALSE\n")
        f.write("keyUsage=digitalSignature,keyEncipherment\n")
        f.write("extendedKeyUsage=serverAuth\n")
        f.write("subjectAltName=" + ",".join(sans) + "\n")
    return path


def _ca(directory, stem, subject):
    _run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{stem}.key",
         "-out", f"{stem}.pem", "-days", DAYS, "-subj", subject,
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)


def _signed(directory, stem, subject, sans):
    ext = _ext_file(directory, f"{stem}.ext", sans)
    _run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{stem}.key", "-out", f"{stem}.csr",
         "-subj", subject, cwd=directory)
    _run("x509", "-req", "-in", f"{stem}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", f"{stem}.pem", "-days", DAYS, "-extfile", ext, cwd=directory)


def make_certs(directory):
    os.makedirs(directory, exist_ok=True)
    local = ["DNS:localhost", "IP:127.0.0.1", "IP:::1"]
    _ca(directory, "ca", "/CN=QuantCrunch test CA")
    _ca(directory, "other_ca", "/CN=Some other CA")
    _signed(directory, "server", "/CN=localhost", local)
    _signed(directory, "wrong_host", "/CN=not-this-host.invalid", ["DNS:not-this-host.invalid"])
    _run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "self_signed.key",
         "-out", "self_signed.pem", "-days", DAYS, "-subj", "/CN=localhost",
         "-addext", "subjectAltName=" + ",".join(local), cwd=directory)
    names = ["ca.pem", "ca.key", "other_ca.pem", "server.pem", "server.key", "wrong_host.pem",
             "wrong_host.key", "self_signed.pem", "self_signed.key"]
    return {n: os.path.join(directory, n) for n in names}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: tls_certs.py DIR")
    print(json.dumps(make_certs(sys.argv[1])))
