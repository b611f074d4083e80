#!/usr/bin/python3
"""Independent reference for preprocessing: Pillow's EXIF transpose, flattening on white, antialiased bicubic resize of
the shorter side to SIZE and centre crop. usage: pillow_preprocess.py IMAGE SIZE OUTPUT.rgb (SIZE×SIZE×3 bytes)."""
import sys

from PIL import Image, ImageOps

path, size, output = sys.argv[1], int(sys.argv[2]), sys.argv[3]
image = ImageOps.exif_transpose(Image.open(path))
if image.mode in ("RGBA", "LA", "P"):
    image = image.convert("RGBA")
    flat = Image.new("RGBA", image.size, (255, 255, 255, 255))
    flat.alpha_composite(image)
    image = flat
image = image.convert("RGB")
w, h = image.size
scale = size / min(w, h)
resized = image.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BICUBIC)
left, top = (resized.width - size) // 2, (resized.height - size) // 2
resized.crop((left, top, left + size, top + size)).save(output, format="PPM")
