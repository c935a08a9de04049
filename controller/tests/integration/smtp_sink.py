#!/usr/bin/python3
"""A tiny SMTP server for the notification tests (Debian's python3-aiosmtpd).

Usage: smtp_sink.py PORT DIR. Listens on 127.0.0.1:PORT and writes each mail it accepts to
DIR/<time ns>-<n>.eml (names sort in arrival order, also across restarts): a first line of JSON
{"mail_from", "rcpt_tos"}, then the message exactly as received. The file is complete (renamed into place) before the server answers 250, so a client
that got its 250 finds the file.
"""
import asyncio
import json
import os
import sys
import time

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        path = os.path.join(self.directory, "%020d-%05d" % (time.time_ns(), self.count))
        head = json.dumps({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos})
        with open(path + ".tmp", "wb") as f:
            f.write(head.encode() + b"\n")
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path + ".eml")
        return "250 OK"


async def main(port, directory):
    loop = asyncio.get_running_loop()
    sink = Sink(directory)  # one for all connections
    server = await loop.create_server(lambda: SMTP(sink), "127.0.0.1", port)
    print("listening on 127.0.0.1:%d" % port, flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
