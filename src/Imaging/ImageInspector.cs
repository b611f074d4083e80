using System.Buffers.Binary;

namespace Catalogs.Imaging;

/// <summary>The image formats the pipeline decodes.</summary>
public enum ImageFormat { Jpeg, Png, Gif, WebP, Bmp }

/// <summary>
/// Reads every size a decoder will use straight from the bytes, before any codec sees them: the canvas, and each
/// frame's own header (GIF image descriptors, APNG fcTL, animated WebP ANMF, the JPEG frame header), checked
/// against the pixel limit. It also refuses files whose data is too short to hold the pixels they declare: codecs
/// pad missing data silently, so such a file would otherwise be indexed as a picture of padding. The data bounds
/// are lower bounds that no valid file can fall under (minimum bits per JPEG block, deflate's and LZW's best
/// ratios, exact BMP row sizes, RLE rows walked to the end).
/// </summary>
public static class ImageInspector
{
    /// <summary>The supported formats by magic bytes; null for anything else.</summary>
    public static ImageFormat? Sniff(ReadOnlySpan<byte> b)
    {
        if (b.Length >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return ImageFormat.Jpeg;
        if (b.Length >= 8 && b[..8].SequenceEqual((ReadOnlySpan<byte>)[0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
            return ImageFormat.Png;
        if (b.Length >= 6 && (b[..6].SequenceEqual("GIF87a"u8)
            || b[..6].SequenceEqual("GIF89a"u8))) return ImageFormat.Gif;
        if (b.Length >= 12 && b[..4].SequenceEqual("RIFF"u8)
            && b[8..12].SequenceEqual("WEBP"u8)) return ImageFormat.WebP;
        if (b.Length >= 14 && b[0] == (byte)'B' && b[1] == (byte)'M') return ImageFormat.Bmp;
        return null;
    }

    public static string Name(this ImageFormat format) => format switch
    {
        ImageFormat.Jpeg => "JPEG",
        ImageFormat.Png => "PNG",
        ImageFormat.Gif => "GIF",
        ImageFormat.WebP => "WebP",
        _ => "BMP",
    };

    /// <summary>The canvas the decoder will allocate, once every frame header and the data size are checked.
    /// Throws <see cref="ImageRejectedException"/>.</summary>
    public static (int Width, int Height) Inspect(ReadOnlySpan<byte> b, ImageFormat format, ImageLimits limits)
    {
        var check = new Check(format, limits);
        var size = format switch
        {
            ImageFormat.Jpeg => Jpeg(b, check),
            ImageFormat.Png => Png(b, check),
            ImageFormat.Gif => Gif(b, check),
            ImageFormat.WebP => WebP(b, check),
            _ => Bmp(b, check),
        };
        return check.Pixels(size.Width, size.Height, "image");
    }

    /// <summary>Builds the refusals with the format's name in them.</summary>
    readonly struct Check(ImageFormat format, ImageLimits limits)
    {
        public ImageRejectedException Damaged(string why) =>
            new(ImageRejection.Undecodable, $"The {format.Name()} image cannot be decoded: {why}.");

        public ImageRejectedException Unsupported(string what) =>
            new(ImageRejection.UnsupportedFormat, $"The {format.Name()} image uses {what}, which is not supported.");

        public ImageRejectedException Short(long declaredPixels, long have, long need) =>
            new(ImageRejection.Undecodable, $"The {format.Name()} image declares {declaredPixels:N0} pixels, but its " +
                $"data ({have:N0} bytes) cannot hold them: at least {need:N0} bytes are needed.");

        /// <summary>A size read from a header: positive, and within the pixel limit.</summary>
        public (int Width, int Height) Pixels(long width, long height, string what)
        {
            if (width <= 0 || height <= 0)
                throw Damaged($"its {what} declares {width}×{height} pixels");
            long pixels = width * height;
            if (width > int.MaxValue || height > int.MaxValue || pixels > limits.MaxPixels)
                throw new ImageRejectedException(ImageRejection.TooManyPixels, $"The {format.Name()} {what} is " +
                    $"{width}×{height} = {pixels:N0} pixels; the limit is {limits.MaxPixels:N0}.");
            return ((int)width, (int)height);
        }
    }

    static (int Width, int Height) Jpeg(ReadOnlySpan<byte> b, Check check)
    {
        (int Width, int Height)? frame = null;
        long blocks = 0;
        bool progressive = false;
        int i = 2;
        while (i + 4 <= b.Length)
        {
            if (b[i] != 0xFF) throw check.Damaged($"a marker is missing at byte {i}");
            byte marker = b[i + 1];
            if (marker == 0xFF) { i++; continue; }                             // fill byte
            if (marker is 0x01 or (>= 0xD0 and <= 0xD8)) { i += 2; continue; } // markers without a length
            if (marker == 0xD9) break;
            int length = BinaryPrimitives.ReadUInt16BigEndian(b[(i + 2)..]);
            if (length < 2 || i + 2 + length > b.Length) throw check.Damaged($"segment 0x{marker:X2} is cut short");
            var segment = b.Slice(i + 4, length - 2);
            if (marker is >= 0xC0 and <= 0xCF and not (0xC4 or 0xC8 or 0xCC))
            {
                // Baseline, extended and progressive Huffman coding only: what browsers decode too.
                if (marker is not (0xC0 or 0xC1 or 0xC2))
                    throw check.Unsupported(marker is >= 0xC9 ? "arithmetic coding"
                        : "lossless or hierarchical coding");
                if (frame is not null) throw check.Damaged("it has more than one frame header");
                if (segment.Length < 6) throw check.Damaged("its frame header is cut short");
                frame = check.Pixels(BinaryPrimitives.ReadUInt16BigEndian(segment[3..]),
                    BinaryPrimitives.ReadUInt16BigEndian(segment[1..]), "frame");
                blocks = JpegBlocks(segment, frame.Value, check);
                progressive = marker == 0xC2;
            }
            else if (marker == 0xDA)
            {
                if (frame is not { } size) throw check.Damaged("a scan comes before the frame header");
                // Every block costs at least 2 bits in a sequential file (a DC code and an end-of-block code) and
                // at least 1 bit in the first DC scan of a progressive one: fewer bytes cannot hold the frame.
                long need = blocks * (progressive ? 1 : 2) / 8;
                long have = b.Length - (i + 2 + length);
                if (have < need) throw check.Short((long)size.Width * size.Height, have, need);
                return size;
            }
            i += 2 + length;
        }
        throw check.Damaged(frame is null ? "it has no frame header" : "it has no scan");
    }

    /// <summary>8×8 blocks over all components, from each component's sampling factors.</summary>
    static long JpegBlocks(ReadOnlySpan<byte> sof, (int Width, int Height) size, Check check)
    {
        int components = sof[5];
        if (components is not (1 or 3 or 4) || sof.Length < 6 + 3 * components)
            throw check.Damaged("its frame header lists no valid components");
        int hMax = 1, vMax = 1;
        for (int c = 0; c < components; c++)
        {
            int h = sof[7 + 3 * c] >> 4, v = sof[7 + 3 * c] & 15;
            if (h is < 1 or > 4 || v is < 1 or > 4) throw check.Damaged("a component has invalid sampling factors");
            hMax = Math.Max(hMax, h);
            vMax = Math.Max(vMax, v);
        }
        long blocks = 0;
        for (int c = 0; c < components; c++)
        {
            int h = sof[7 + 3 * c] >> 4, v = sof[7 + 3 * c] & 15;
            long width = ((long)size.Width * h + hMax - 1) / hMax, height = ((long)size.Height * v + vMax - 1) / vMax;
            blocks += (width + 7) / 8 * ((height + 7) / 8);
        }
        return blocks;
    }

    static (int Width, int Height) Png(ReadOnlySpan<byte> b, Check check)
    {
        if (b.Length < 33 || !b.Slice(12,
            4).SequenceEqual("IHDR"u8)) throw check.Damaged("IHDR is not its first chunk");
        var size = check.Pixels(BinaryPrimitives.ReadUInt32BigEndian(b[16..]),
            BinaryPrimitives.ReadUInt32BigEndian(b[20..]),
            "image");
        int depth = b[24], colorType = b[25];
        int channels = colorType switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, 6 => 4, _ => 0 };
        if (channels == 0 || depth is not (1 or 2 or 4 or 8 or 16))
            throw check.Damaged($"IHDR declares colour type {colorType} at bit depth {depth}");
        long idat = 0;
        int i = 8;
        while (i + 12 <= b.Length)
        {
            long length = BinaryPrimitives.ReadUInt32BigEndian(b[i..]);
            if (length > int.MaxValue
                || i + 12 + length > b.Length) break; // a cut chunk: the codec says how far it got
            var type = b.Slice(i + 4, 4);
            var data = b.Slice(i + 8, (int)length);
            if (type.SequenceEqual("IDAT"u8)) idat += length;
            else if (type.SequenceEqual("fcTL"u8))
            {
                // An APNG frame: it must lie inside the canvas and within the limit.
                if (data.Length < 26) throw check.Damaged("an fcTL chunk is cut short");
                long w = BinaryPrimitives.ReadUInt32BigEndian(data[4..]),
                    h = BinaryPrimitives.ReadUInt32BigEndian(data[8..]);
                long x = BinaryPrimitives.ReadUInt32BigEndian(data[12..]),
                    y = BinaryPrimitives.ReadUInt32BigEndian(data[16..]);
                check.Pixels(w, h, "animation frame");
                if (x + w > size.Width || y + h > size.Height)
                    throw check.Damaged($"an animation frame ({w}×{h} at {x},{y}) lies outside its " +
                        $"{size.Width}×{size.Height} canvas");
            }
            else if (type.SequenceEqual("IEND"u8)) break;
            i += 12 + (int)length;
        }
        // Deflate stores at most 258 bytes in 2 bits (a 1032:1 ratio); each row carries one filter byte.
        long rowBytes = ((long)size.Width * channels * depth + 7) / 8 + 1;
        long need = rowBytes * size.Height / 1032;
        if (idat < need) throw check.Short((long)size.Width * size.Height, idat, need);
        return size;
    }

    static (int Width, int Height) Gif(ReadOnlySpan<byte> b, Check check)
    {
        if (b.Length < 13) throw check.Damaged("its header is cut short");
        long canvasW = BinaryPrimitives.ReadUInt16LittleEndian(b[6..]),
            canvasH = BinaryPrimitives.ReadUInt16LittleEndian(b[8..]);
        int i = 13 + ((b[10] & 0x80) != 0 ? 3 << ((b[10] & 7) + 1) : 0);
        int frames = 0;
        while (i < b.Length && b[i] != 0x3B)
        {
            if (b[i] == 0x21)
            {
                i = SkipSubBlocks(b, i + 2, out _);
            }
            else if (b[i] == 0x2C)
            {
                if (i + 10 > b.Length) break;
                long x = BinaryPrimitives.ReadUInt16LittleEndian(b[(i + 1)..]),
                    y = BinaryPrimitives.ReadUInt16LittleEndian(b[(i + 3)..]);
                long w = BinaryPrimitives.ReadUInt16LittleEndian(b[(i + 5)..]),
                    h = BinaryPrimitives.ReadUInt16LittleEndian(b[(i + 7)..]);
                byte flags = b[i + 9];
                // Decoders grow the canvas to hold a frame that reaches past the logical screen.
                check.Pixels(w, h, "frame");
                canvasW = Math.Max(canvasW, x + w);
                canvasH = Math.Max(canvasH, y + h);
                check.Pixels(canvasW, canvasH, "canvas");
                i += 10 + ((flags & 0x80) != 0 ? 3 << ((flags & 7) + 1) : 0);
                i = SkipSubBlocks(b, i + 1, out long data); // after the LZW minimum code size
                // LZW's best case: one 12-bit code for a run of up to 4,096 pixels.
                long need = w * h * 12 / (8 * 4096);
                if (frames == 0 && data < need) throw check.Short(w * h, data, need);
                frames++;
            }
            else if (frames == 0) throw check.Damaged($"byte {i} starts no block");
            else break; // junk after a frame: the codec stops there
        }
        if (frames == 0) throw check.Damaged("it has no frame");
        return check.Pixels(canvasW, canvasH, "canvas");
    }

    /// <summary>The offset after a chain of sub-blocks starting at <paramref name="i"/>, and the bytes they
    /// carry.</summary>
    static int SkipSubBlocks(ReadOnlySpan<byte> b, int i, out long data)
    {
        data = 0;
        while (i < b.Length && b[i] != 0)
        {
            data += b[i];
            i += 1 + b[i];
        }
        return Math.Min(i + 1, b.Length);
    }

    static (int Width, int Height) WebP(ReadOnlySpan<byte> b, Check check)
    {
        int i = 12;
        (int Width, int Height)? canvas = null;
        while (i + 8 <= b.Length)
        {
            var type = b.Slice(i, 4);
            long length = BinaryPrimitives.ReadUInt32LittleEndian(b[(i + 4)..]);
            var data = b.Slice(i + 8, (int)Math.Min(length, b.Length - i - 8));
            if (type.SequenceEqual("VP8X"u8))
            {
                if (data.Length < 10) throw check.Damaged("its VP8X chunk is cut short");
                canvas = check.Pixels(U24(data[4..]) + 1L, U24(data[7..]) + 1L, "canvas");
            }
            else if (type.SequenceEqual("ANMF"u8))
            {
                if (canvas is not { } c) throw check.Damaged("an animation frame comes without a VP8X canvas");
                if (data.Length < 16) throw check.Damaged("an ANMF chunk is cut short");
                long x = 2L * U24(data), y = 2L * U24(data[3..]), w = U24(data[6..]) + 1L, h = U24(data[9..]) + 1L;
                check.Pixels(w, h, "animation frame");
                if (x + w > c.Width || y + h > c.Height)
                    throw check.Damaged($"an animation frame ({w}×{h} at {x},{y}) lies outside its " +
                        $"{c.Width}×{c.Height} canvas");
                WebPBitstreams(data[16..], check);
            }
            else if (type.SequenceEqual("VP8 "u8) || type.SequenceEqual("VP8L"u8))
            {
                var size = WebPBitstream(type, data, check);
                return canvas ?? size;
            }
            if (length + (length & 1) > b.Length - i - 8) break;
            i += 8 + (int)(length + (length & 1));
        }
        return canvas ?? throw check.Damaged("it holds no image chunk");
    }

    /// <summary>The sub-chunks of an animation frame: its image bitstream is checked like a still image's.</summary>
    static void WebPBitstreams(ReadOnlySpan<byte> b, Check check)
    {
        int i = 0;
        while (i + 8 <= b.Length)
        {
            var type = b.Slice(i, 4);
            long length = BinaryPrimitives.ReadUInt32LittleEndian(b[(i + 4)..]);
            if (type.SequenceEqual("VP8 "u8) || type.SequenceEqual("VP8L"u8))
                WebPBitstream(type, b.Slice(i + 8, (int)Math.Min(length, b.Length - i - 8)), check);
            if (length + (length & 1) > b.Length - i - 8) break;
            i += 8 + (int)(length + (length & 1));
        }
    }

    static (int Width, int Height) WebPBitstream(ReadOnlySpan<byte> type, ReadOnlySpan<byte> data, Check check)
    {
        if (type.SequenceEqual("VP8 "u8))
        {
            if (data.Length < 10) throw check.Damaged("its VP8 frame header is cut short");
            return check.Pixels(BinaryPrimitives.ReadUInt16LittleEndian(data[6..]) & 0x3FFF,
                BinaryPrimitives.ReadUInt16LittleEndian(data[8..]) & 0x3FFF, "frame");
        }
        if (data.Length < 5) throw check.Damaged("its VP8L header is cut short");
        uint bits = BinaryPrimitives.ReadUInt32LittleEndian(data[1..]);
        return check.Pixels((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, "frame");
    }

    static int U24(ReadOnlySpan<byte> b) => b[0] | b[1] << 8 | b[2] << 16;

    static (int Width, int Height) Bmp(ReadOnlySpan<byte> b, Check check)
    {
        if (b.Length < 26) throw check.Damaged("its header is cut short");
        long offset = BinaryPrimitives.ReadUInt32LittleEndian(b[10..]);
        uint dib = BinaryPrimitives.ReadUInt32LittleEndian(b[14..]);
        long width, height;
        int bpp;
        uint compression = 0;
        if (dib == 12)
        {
            width = BinaryPrimitives.ReadUInt16LittleEndian(b[18..]);
            height = BinaryPrimitives.ReadUInt16LittleEndian(b[20..]);
            bpp = BinaryPrimitives.ReadUInt16LittleEndian(b[24..]);
        }
        else if (dib is 40 or 52 or 56 or 64 or 108 or 124)
        {
            if (b.Length < 34) throw check.Damaged("its info header is cut short");
            width = BinaryPrimitives.ReadInt32LittleEndian(b[18..]);
            height = Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(b[22..]));
            bpp = BinaryPrimitives.ReadUInt16LittleEndian(b[28..]);
            compression = BinaryPrimitives.ReadUInt32LittleEndian(b[30..]);
        }
        else throw check.Damaged($"its info header has an unknown size ({dib} bytes)");
        var size = check.Pixels(width, height, "image");
        if (bpp is not (1 or 2 or 4 or 8 or 16 or 24 or 32)) throw check.Damaged($"it declares {bpp} bits per pixel");
        if (offset < 14 + dib || offset > b.Length) throw check.Damaged("its pixel data offset lies outside the file");
        var pixels = b[(int)offset..];
        switch (compression)
        {
            case 0 or 3 or 6: // uncompressed, bit fields
                long rowBytes = ((long)size.Width * bpp + 31) / 32 * 4;
                long need = rowBytes * (size.Height - 1) + ((long)size.Width * bpp + 7) / 8;
                if (pixels.Length < need) throw check.Short((long)size.Width * size.Height, pixels.Length, need);
                break;
            case 1 or 2:
                if (bpp != (compression == 1 ? 8 : 4))
                    throw check.Damaged($"RLE{(compression == 1 ? 8 : 4)} at {bpp} bits per pixel");
                long rows = RleRows(pixels, rle4: compression == 2);
                if (rows < size.Height - 1)
                    throw check.Damaged($"its run-length data ends at row {rows:N0} of {size.Height:N0}");
                break;
            default:
                throw check.Unsupported($"compression {compression}");
        }
        return size;
    }

    /// <summary>How many rows an RLE4/RLE8 stream reaches before its end-of-bitmap or the end of the data.</summary>
    static long RleRows(ReadOnlySpan<byte> b, bool rle4)
    {
        long row = 0;
        int i = 0;
        while (i + 2 <= b.Length)
        {
            byte count = b[i], value = b[i + 1];
            i += 2;
            if (count > 0) continue;                      // a run
            if (value == 0) row++;                        // end of line
            else if (value == 1) return row;              // end of bitmap
            else if (value == 2)                          // delta: skip right and down
            {
                if (i + 2 > b.Length) break;
                row += b[i + 1];
                i += 2;
            }
            else i += ((rle4 ? (value + 1) / 2 : value) + 1) & ~1; // absolute run, padded to 16 bits
        }
        return row;
    }
}
