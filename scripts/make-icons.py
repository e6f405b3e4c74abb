#!/usr/bin/env python3
"""Raster copies of web/public/icon.svg (four squares on blue) for browsers
that need PNG icons to offer installing the app (Chrome: 192 and 512 px).
Full-bleed squares, so the same files serve as maskable icons. Standard
library only: run `python3 scripts/make-icons.py` after changing the design."""
import struct
import zlib
from pathlib import Path

BLUE = (0x24, 0x53, 0xC9)
WHITE = (0xFF, 0xFF, 0xFF)
AMBER = (0xFF, 0xB4, 0x54)
# The SVG's 64-unit grid: cells at 18..30 and 34..46, the lower right amber.
CELLS = [((18, 18), WHITE), ((34, 18), WHITE), ((18, 34), WHITE), ((34, 34), AMBER)]


def pixel(x: float, y: float):
    for (cx, cy), colour in CELLS:
        if cx <= x < cx + 12 and cy <= y < cy + 12:
            return colour
    return BLUE


def png(size: int) -> bytes:
    rows = bytearray()
    for j in range(size):
        rows.append(0)  # filter: none
        for i in range(size):
            rows.extend(pixel((i + 0.5) * 64 / size, (j + 0.5) * 64 / size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))

    header = struct.pack('>IIBBBBB', size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header) + chunk(b'IDAT', zlib.compress(bytes(rows), 9)) + chunk(b'IEND', b'')


if __name__ == '__main__':
    out = Path(__file__).resolve().parent.parent / 'web' / 'public'
    for size in (192, 512):
        (out / f'icon-{size}.png').write_bytes(png(size))
