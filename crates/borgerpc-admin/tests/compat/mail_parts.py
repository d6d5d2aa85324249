"""Decode a raw e-mail as an SMTP server received it, with Python's own `email` package (an
MIME reader independent of the portal's writer), and print as JSON its decoded subject,
sender and recipients, its content type, every text/plain part, and each attachment's file
name, content type and size. Each attachment is written into OUTDIR under its file name.

Usage: python3 mail_parts.py MAIL.eml OUTDIR
"""

import email
import json
import os
import sys
from email import policy


def main():
    with open(sys.argv[1], "rb") as f:
        msg = email.message_from_binary_file(f, policy=policy.default)
    out = {
        "subject": str(msg["subject"]),
        "from": str(msg["from"]),
        "to": str(msg["to"]),
        "content_type": msg.get_content_type(),
        "texts": [],
        "attachments": [],
    }
    for part in msg.walk():
        if part.is_multipart():
            continue
        if part.get_content_disposition() == "attachment":
            data = part.get_payload(decode=True)
            name = part.get_filename()
            path = os.path.join(sys.argv[2], os.path.basename(name))
            with open(path, "wb") as f:
                f.write(data)
            out["attachments"].append(
                {
                    "filename": name,
                    "content_type": part.get_content_type(),
                    "transfer_encoding": part.get("Content-Transfer-Encoding", ""),
                    "size": len(data),
                    "path": path,
                }
            )
        elif part.get_content_type() == "text/plain":
            out["texts"].append(part.get_content())
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
