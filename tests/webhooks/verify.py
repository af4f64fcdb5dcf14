"""Verifies webhook deliveries with the `standardwebhooks` package from PyPI,
an implementation of the Standard Webhooks specification independent of the
hub's. Used by tests/api/webhooks.rs.

stdin: {"secret": "whsec_...", "deliveries": [{"headers": {...}, "body": "..."}]}
stdout: {"verified": [true | false, ...]}, one per delivery, in order.
Exits 3 when the package is missing.
"""

import json
import sys

try:
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError
except ImportError as e:  # pragma: no cover - reported to the Rust test
    print(f"standardwebhooks is not installed: {e}", file=sys.stderr)
    sys.exit(3)


def main() -> None:
    request = json.load(sys.stdin)
    hook = Webhook(request["secret"])
    verified = []
    for d in request["deliveries"]:
        try:
            hook.verify(d["body"], d["headers"])
            verified.append(True)
        except WebhookVerificationError:
            verified.append(False)
    json.dump({"verified": verified}, sys.stdout)


if __name__ == "__main__":
    main()
