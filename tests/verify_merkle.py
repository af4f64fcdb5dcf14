#!/usr/bin/env python3
"""An independent check of carehub's access-log proofs, written from
RFC 9162 (Certificate Transparency v2) section 2.1 with nothing but hashlib.

    verify_merkle.py inclusion < proof.json      # GET .../accesses/{seq}/proof
    verify_merkle.py consistency < proof.json    # GET .../checkpoints/{n}/consistency?from=m

Exit 0 and print "ok ..." when the proof verifies, exit 1 naming what fails.
It shares no code with the hub (tests/api/accesslog.rs runs it).

RFC 9162 2.1.1: the leaf hash is SHA-256(0x00 || data), an interior node
SHA-256(0x01 || left || right). In carehub the leaf data is the 32 bytes of
the entry's chained hash.
"""

import hashlib
import json
import sys


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(index, size, leaf, path, root):
    """RFC 9162 2.1.3.2, step by step."""
    if index >= size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_hash, second_hash, proof):
    """RFC 9162 2.1.4.2, step by step."""
    if first > second:
        return False
    if first == second:
        return not proof and first_hash == second_hash
    if first == 0:
        return not proof
    if not proof:
        return False
    # 2. If first is an exact power of 2, prepend first_hash to the proof.
    if first & (first - 1) == 0:
        proof = [first_hash] + proof
    # 3.
    fn, sn = first - 1, second - 1
    # 4.
    while fn % 2 == 1:
        fn >>= 1
        sn >>= 1
    # 5.
    fr = sr = proof[0]
    # 6.
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # 7.
    return fr == first_hash and sr == second_hash and sn == 0


def signed_text(cp):
    return "carehub access-log checkpoint v1\n%d\n%d\n%s\n%s\n" % (
        cp["number"], cp["tree_size"], cp["root_hash"], cp["timestamp"])


def check_checkpoint(cp):
    if cp["signed_text"] != signed_text(cp):
        fail("checkpoint %d: signed_text does not restate its fields" % cp["number"])


def fail(why):
    print("FAIL " + why)
    sys.exit(1)


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    doc = json.load(sys.stdin)
    if mode == "inclusion":
        cp = doc["checkpoint"]
        check_checkpoint(cp)
        entry = bytes.fromhex(doc["entry_hash"])
        leaf = leaf_hash(entry)
        if leaf.hex() != doc["leaf_hash"]:
            fail("leaf_hash is not SHA-256(0x00 || entry hash)")
        if doc["tree_size"] != cp["tree_size"]:
            fail("the proof's tree size is not the checkpoint's")
        path = [bytes.fromhex(h) for h in doc["audit_path"]]
        if not verify_inclusion(doc["leaf_index"], cp["tree_size"], leaf, path,
                                bytes.fromhex(cp["root_hash"])):
            fail("the audit path does not lead to the checkpoint's root")
        print("ok inclusion of leaf %d in tree %d (checkpoint %d)"
              % (doc["leaf_index"], cp["tree_size"], cp["number"]))
    elif mode == "consistency":
        a, b = doc["first"], doc["second"]
        check_checkpoint(a)
        check_checkpoint(b)
        proof = [bytes.fromhex(h) for h in doc["proof"]]
        if not verify_consistency(a["tree_size"], b["tree_size"],
                                  bytes.fromhex(a["root_hash"]),
                                  bytes.fromhex(b["root_hash"]), proof):
            fail("checkpoint %d is not consistent with checkpoint %d"
                 % (b["number"], a["number"]))
        print("ok consistency from tree %d to tree %d" % (a["tree_size"], b["tree_size"]))
    else:
        fail("usage: verify_merkle.py inclusion|consistency < proof.json")


if __name__ == "__main__":
    main()
