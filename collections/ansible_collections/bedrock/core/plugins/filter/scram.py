# -*- coding: utf-8 -*-
# Bedrock: does a password match the SCRAM-SHA-256 verifier PostgreSQL stores for a role? Runs on the controller,
# so an unchanged login role costs no module run (community.postgresql.postgresql_user makes the same comparison
# on the host). Only a certain match is True: anything it cannot check (no verifier, another format, a password
# that SASLprep could change) is False, and the module then runs and decides.
from __future__ import annotations

import base64
import hashlib
import hmac
import re

DOCUMENTATION = r"""
name: scram_matches
short_description: Whether a password matches a PostgreSQL SCRAM-SHA-256 verifier
description:
  - "True when O(_input) hashes to the verifier's ServerKey (RFC 5802) with its salt and iteration count."
  - False for no verifier, a verifier in another format, or a password that is not printable ASCII (SASLprep
    could change it; the caller then lets the module compare).
options:
  _input: {description: The password., type: str, required: true}
  verifier: {description: "pg_authid.rolpassword: C(SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>).", type: str, required: true}
"""

RETURN = r"""
_value: {description: Whether the password matches., type: bool}
"""

VERIFIER = re.compile(r"^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$")


def scram_matches(password, verifier):
    match = VERIFIER.match(verifier or "")
    if not match or not isinstance(password, str) or not all(" " <= c <= "~" for c in password):
        return False
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("ascii"), base64.b64decode(match.group(2)),
                                 int(match.group(1)))
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return hmac.compare_digest(server_key, base64.b64decode(match.group(4)))


class FilterModule:
    def filters(self):
        return {"scram_matches": scram_matches}
