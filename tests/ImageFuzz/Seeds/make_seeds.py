#!/usr/bin/env python3
"""Writes the fuzzer's seed images: small valid files of every format and variant the decoders handle
(baseline and progressive JPEG, EXIF orientation, PNG colour types, interlacing and APNG, static and animated GIF,
lossy, lossless, alpha and animated WebP, BMP at several depths and RLE). Run once; the outputs are committed."""
import io
import struct

from PIL import Image, ImageDraw


def picture(w, h, mode="RGB"):
    im = Image.new("RGB", (w, h), (230, 40, 40))
    d = ImageDraw.Draw(im)
    d.ellipse((w // 4, h // 4, 3 * w // 4, 3 * h // 4), fill=(30, 60, 220))
    d.line((0, h - 1, w - 1, 0), fill=(20, 200, 20), width=2)
    if mode == "RGBA":
        im = im.convert("RGBA")
        im.putalpha(Image.linear_gradient("L").resize((w, h)))
    return im if mode in ("RGB", "RGBA") else im.convert(mode)


def save(name, im, **kw):
    im.save(name, **kw)


save("baseline.jpg", picture(48, 32), quality=80)
save("progressive.jpg", picture(48, 32), quality=80, progressive=True)
save("gray.jpg", picture(32, 32, "L"), quality=70)
exif = Image.Exif()
exif[0x0112] = 6
save("rotated.jpg", picture(40, 24), quality=75, exif=exif.tobytes())

save("rgb.png", picture(32, 24))
save("palette.png", picture(32, 24, "P"))
save("rgba.png", picture(24, 24, "RGBA"))
save("interlaced.png", picture(20, 20), interlace=1)
frames = [picture(24, 16), picture(24, 16).rotate(180)]
frames[0].save("animated.png", save_all=True, append_images=frames[1:], duration=100, loop=0)

save("static.gif", picture(32, 24, "P"))
gif_frames = [picture(32, 24, "P"), picture(32, 24).rotate(90).convert("P"), picture(32, 24).transpose(0).convert("P")]
gif_frames[0].save("animated.gif", save_all=True, append_images=gif_frames[1:], duration=80, loop=0, optimize=False)

save("lossy.webp", picture(40, 24), quality=70)
save("lossless.webp", picture(24, 24), lossless=True)
save("alpha.webp", picture(24, 24, "RGBA"), quality=70)
webp_frames = [picture(24, 16), picture(24, 16).rotate(180)]
webp_frames[0].save("animated.webp", save_all=True, append_images=webp_frames[1:], duration=100, loop=0, quality=60)

save("rgb24.bmp", picture(30, 20))
save("palette8.bmp", picture(30, 20, "P"))
save("mono.bmp", picture(30, 20, "1"))


def rle_bmp(name, bits, width, height):
    """A bottom-up RLE8 or RLE4 bitmap (Pillow writes no RLE): runs, an absolute run, ends of line, end of bitmap."""
    data = io.BytesIO()
    for y in range(height):
        data.write(bytes([width // 2, (y % 3) * 17 if bits == 4 else y % 256]))
        rest = width - width // 2
        data.write(bytes([0, rest]))
        absolute = bytes((x * 7) % 16 * 17 if bits == 4 else (x * 7) % 256 for x in range(rest))
        if bits == 4:
            absolute = bytes(((x * 3) % 16) << 4 | ((x * 5) % 16) for x in range((rest + 1) // 2))
        data.write(absolute + b"\0" * (len(absolute) % 2))
        data.write(b"\0\0" if y < height - 1 else b"\0\1")
    pixels = data.getvalue()
    colors = 1 << bits
    palette = b"".join(struct.pack("<BBBB", (i * 37) % 256, (i * 91) % 256, (i * 53) % 256, 0) for i in range(colors))
    offset = 14 + 40 + len(palette)
    header = struct.pack("<2sIHHI", b"BM", offset + len(pixels), 0, 0, offset)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bits, 1 if bits == 8 else 2, len(pixels), 2835, 2835, colors, 0)
    with open(name, "wb") as f:
        f.write(header + info + palette + pixels)


rle_bmp("rle8.bmp", 8, 24, 16)
rle_bmp("rle4.bmp", 4, 24, 16)
