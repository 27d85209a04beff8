#!/usr/bin/env python3
"""Watches one file with inotify, as the usage guide's Python example does (a watch on the
file itself), and prints one line per event: the names of its flags. Stops after `seconds`.
Uses ctypes so it needs no module beyond the standard library."""
import ctypes
import os
import select
import struct
import sys
import time

FLAGS = {0x1: "IN_ACCESS", 0x2: "IN_MODIFY", 0x4: "IN_ATTRIB", 0x8: "IN_CLOSE_WRITE", 0x20: "IN_OPEN",
         0x400: "IN_DELETE_SELF", 0x800: "IN_MOVE_SELF", 0x8000: "IN_IGNORED"}

path, seconds = sys.argv[1], float(sys.argv[2])
libc = ctypes.CDLL("libc.so.6", use_errno=True)
fd = libc.inotify_init1(0)
if libc.inotify_add_watch(fd, path.encode(), 0x2 | 0x4 | 0x8 | 0x400 | 0x800) < 0:
    sys.exit(f"inotify_add_watch {path}: {os.strerror(ctypes.get_errno())}")
print("READY", flush=True)
deadline = time.time() + seconds
while time.time() < deadline:
    ready, _, _ = select.select([fd], [], [], max(0, deadline - time.time()))
    if not ready:
        break
    data = os.read(fd, 4096)
    off = 0
    while off < len(data):
        _wd, mask, _cookie, length = struct.unpack_from("iIII", data, off)
        off += 16 + length
        print(" ".join(n for bit, n in FLAGS.items() if mask & bit), flush=True)
