#!/usr/bin/env python3
"""The Python tiler that tessera replaces, for bench/ingest: openslide-python
reads each READ x READ region of level 0, PIL resizes it to TILE x TILE with
Lanczos and encodes it as JPEG (quality 90) in memory, as a stored tile is,
in PROCESSES worker processes that split the grid's rows. Prints the number
of tiles made.

    openslide_pil_loop.py SLIDE READ TILE PROCESSES
"""
import io
import sys
from multiprocessing import Pool

import openslide
from PIL import Image


def tile_rows(job):
    path, read, tile, first_row, row_step, cols, rows = job
    slide = openslide.OpenSlide(path)
    made = 0
    for row in range(first_row, rows, row_step):
        for col in range(cols):
            region = slide.read_region((col * read, row * read), 0, (read, read)).convert("RGB")
            region.resize((tile, tile), Image.LANCZOS).save(io.BytesIO(), "JPEG", quality=90)
            made += 1
    slide.close()
    return made


def main():
    path, read, tile, processes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    width, height = openslide.OpenSlide(path).dimensions
    cols, rows = width // read, height // read
    jobs = [(path, read, tile, first, processes, cols, rows) for first in range(processes)]
    with Pool(processes) as pool:
        print(sum(pool.map(tile_rows, jobs)))


if __name__ == "__main__":
    main()
